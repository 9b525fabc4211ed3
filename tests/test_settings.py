"""Settings: declared once, validated in one clear line, cli > env > saved > default."""

from __future__ import annotations

import pytest

from desktop_app.core.errors import ConfigError
from desktop_app.core.settings import (
    SETTINGS,
    Settings,
    default_workers,
    load_settings,
    looks_like_path,
    markdown_table,
    threads_per_worker,
)


def test_defaults():
    settings = load_settings({})
    assert settings.max_queue_size == 100
    assert settings.max_file_size_mb == 500
    assert settings.whisper_model_size == "tiny.en"
    assert settings.log_level == "INFO"
    assert settings.beam_size == 5
    assert settings.vad_filter is True
    assert settings.max_concurrent_workers == default_workers()


@pytest.mark.parametrize(
    ("cores", "workers", "threads"), [(1, 1, 1), (2, 2, 1), (4, 4, 1), (8, 4, 2), (16, 4, 4)]
)
def test_workers_times_threads_never_oversubscribe(cores, workers, threads):
    assert default_workers(cores) == workers
    assert threads_per_worker(workers, cores) == threads
    assert workers * threads <= cores


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"MAX_QUEUE_SIZE": "-3"},
            "MAX_QUEUE_SIZE=-3 is not allowed (environment): expected a "
            "whole number from 1 to 100000.",
        ),
        (
            {"LOG_LEVEL": "LOUD"},
            "LOG_LEVEL=LOUD is not allowed (environment): expected one of "
            "DEBUG, INFO, WARNING, ERROR, CRITICAL.",
        ),
        (
            {"MAX_CONCURRENT_WORKERS": "abc"},
            "MAX_CONCURRENT_WORKERS=abc is not allowed "
            "(environment): expected a whole number from 1 to 64.",
        ),
        (
            {"WHISPER_VAD_FILTER": "maybe"},
            "WHISPER_VAD_FILTER=maybe is not allowed (environment): expected true or false.",
        ),
        (
            {"STREAM_MIN_CHUNK_SIZE": "nan"},
            "STREAM_MIN_CHUNK_SIZE=nan is not allowed "
            "(environment): expected a number from 0.1 to 10.",
        ),
    ],
)
def test_bad_values_give_one_line_naming_variable_value_and_allowed(env, expected):
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    assert str(raised.value) == expected


def test_model_path_that_does_not_exist(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"^WHISPER_MODEL_SIZE=.*no-model is not allowed.*"
        r"does not exist",
    ):
        load_settings({"WHISPER_MODEL_SIZE": str(tmp_path / "no-model")})


def test_unknown_model_name():
    with pytest.raises(ConfigError, match="WHISPER_MODEL_SIZE=gigantic is not allowed"):
        load_settings({"WHISPER_MODEL_SIZE": "gigantic"})


def test_local_model_folder_is_accepted(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    assert load_settings({"WHISPER_MODEL_SIZE": str(tmp_path)}).whisper_model_size == str(tmp_path)


def test_english_only_model_refuses_other_languages_and_translation():
    with pytest.raises(ConfigError, match=r"English-only model tiny\.en"):
        load_settings({"WHISPER_LANGUAGE": "de"})
    with pytest.raises(ConfigError, match="translate is not allowed"):
        load_settings({"WHISPER_TASK": "translate"})
    assert load_settings({"WHISPER_LANGUAGE": "de", "WHISPER_MODEL_SIZE": "small"}).language == "de"


def test_precedence_command_line_over_environment_over_saved_over_default():
    saved = {"max_queue_size": 7, "beam_size": 3, "log_level": "debug"}
    env = {"MAX_QUEUE_SIZE": "8", "WHISPER_BEAM_SIZE": "2"}
    settings = load_settings(env, saved=saved, overrides={"max_queue_size": 9})
    assert settings.max_queue_size == 9  # command line
    assert settings.beam_size == 2  # environment
    assert settings.log_level == "DEBUG"  # saved
    assert settings.max_file_size_mb == 500  # default


def test_saved_values_are_validated_and_named_as_saved():
    with pytest.raises(ConfigError, match=r"\(saved settings\)"):
        load_settings({}, saved={"max_queue_size": "0"})


def test_replace_validates():
    settings = load_settings({})
    assert settings.replace(max_queue_size="12").max_queue_size == 12
    with pytest.raises(ConfigError):
        settings.replace(beam_size=0)


def test_every_setting_is_declared_once_and_is_a_field():
    names = [spec.name for spec in SETTINGS]
    envs = [spec.env for spec in SETTINGS]
    assert len(set(names)) == len(names) and len(set(envs)) == len(envs)
    assert set(names) == set(Settings.__dataclass_fields__)
    for spec in SETTINGS:
        assert spec.description and spec.env in markdown_table()


def test_readme_configuration_table_is_current():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "regenerate with: python -m desktop_app.core.settings"


def test_command_line_values_are_named_by_the_option_typed():
    """The user typed --workers 0, not MAX_CONCURRENT_WORKERS=0: the message names the option."""
    options = {"max_concurrent_workers": "--workers", "language": "--language"}
    with pytest.raises(ConfigError) as raised:
        load_settings({}, overrides={"max_concurrent_workers": "0"}, options=options)
    assert str(raised.value) == "--workers 0 is not allowed: expected a whole number from 1 to 64."
    with pytest.raises(ConfigError) as raised:
        load_settings({}, overrides={"language": "de"}, options=options)
    assert str(raised.value).startswith(
        "--language de is not allowed with the English-only model tiny.en:"
    )
    # A value from the environment still names its variable, even when options are declared.
    with pytest.raises(ConfigError) as raised:
        load_settings({"MAX_CONCURRENT_WORKERS": "0"}, options=options)
    assert str(raised.value).startswith("MAX_CONCURRENT_WORKERS=0 is not allowed (environment)")


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("MAX_QUEUE_SIZE", "１２"),  # full-width digits
        ("MAX_QUEUE_SIZE", "١٢"),  # Arabic-Indic digits
        ("MAX_QUEUE_SIZE", "1_0"),
        ("WHISPER_BEAM_SIZE", "²"),
        ("STREAM_MIN_CHUNK_SIZE", "０.５"),
        ("JOB_CLEANUP_MAX_AGE_HOURS", "۱"),  # extended Arabic-Indic
        ("WHISPER_LANGUAGE", "ру"),  # letters, but not a language code
    ],
)
def test_only_ascii_digits_are_numbers(variable, raw):
    with pytest.raises(ConfigError, match=f"^{variable}=.* is not allowed"):
        load_settings({variable: raw, "WHISPER_MODEL_SIZE": "small"})


def test_ascii_numbers_still_read():
    settings = load_settings({"MAX_QUEUE_SIZE": " +12 ", "STREAM_MIN_CHUNK_SIZE": ".75"})
    assert settings.max_queue_size == 12 and settings.stream_min_chunk_size == 0.75


@pytest.mark.parametrize("prefix", ["", "./", "~/"])
def test_a_value_the_system_refuses_is_one_line_not_an_oserror(prefix):
    """A 300-character model name made the file system raise "File name too long"."""
    with pytest.raises(ConfigError) as raised:
        load_settings({"WHISPER_MODEL_SIZE": prefix + "m" * 300})
    message = str(raised.value)
    assert message.startswith("WHISPER_MODEL_SIZE=") and "\n" not in message
    assert len(message) < 500


def test_a_model_name_is_never_looked_up_in_the_current_folder(tmp_path, monkeypatch):
    """Folders where Verbatim happens to start must not turn a name into a path."""
    monkeypatch.chdir(tmp_path)
    for name in ("gigantic", "tiny.en"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.bin").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="WHISPER_MODEL_SIZE=gigantic is not allowed"):
        load_settings({"WHISPER_MODEL_SIZE": "gigantic"})
    assert load_settings({"WHISPER_MODEL_SIZE": "./gigantic"}).whisper_model_size == "./gigantic"
    assert not looks_like_path("tiny.en")
    assert looks_like_path("./tiny.en") and looks_like_path("~/models/x") and looks_like_path("a/b")


def test_the_access_token_never_reaches_the_log():
    settings = load_settings(environ={"API_TOKEN": "s3cret-value"})
    described = settings.describe()
    assert "s3cret-value" not in described
    assert "API_TOKEN=(set)" in described
