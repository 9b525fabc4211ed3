"""The desktop window: a thin Qt face over the job queue and the Qt-free core."""
