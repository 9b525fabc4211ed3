"""The service face: Verbatim's local HTTP and WebSocket server over the one job queue.

The original transcription service's API (``/api/v1/transcribe/batch``, ``/api/v1/capacity``,
503 ``AT_CAPACITY``) served by ``verbatim-cli serve`` or by the window, so that other programs on
the computer share the window's queue, limits and job store. Nothing here imports Qt directly;
the queue it drives is the one :class:`~desktop_app.job_queue.JobQueue`, whose methods are
thread-safe, called from the server's own thread and its executor.
"""
