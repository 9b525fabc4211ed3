"""Input devices as a person reads them, while the device opened stays the one PortAudio names."""

from __future__ import annotations

import pytest

from desktop_app.core.audio_sources import InputDevice, find_device, input_choices


def device(index: int, name: str, *, default: bool = False, api: str = "ALSA") -> InputDevice:
    return InputDevice(index, name, 2, 48000.0, default, api)


#: What PortAudio lists on a Linux desktop with PipeWire (sounddevice.query_devices()).
LINUX = [
    device(0, "HDA Intel PCH: ALC3246 Analog (hw:0,0)"),
    device(1, "USB PnP Sound Device: Audio (hw:2,0)"),
    device(6, "sysdefault"),
    device(7, "samplerate"),
    device(8, "speexrate"),
    device(9, "pipewire"),
    device(10, "pulse"),
    device(11, "upmix"),
    device(12, "vdownmix"),
    device(13, "default", default=True),
]
#: The same microphone once per Windows host API, beside the sound mappers.
WINDOWS = [
    device(0, "Microsoft Sound Mapper - Input", api="MME"),
    device(1, "Microphone (Realtek High Defini", default=True, api="MME"),
    device(4, "Primary Sound Capture Driver", api="Windows DirectSound"),
    device(5, "Microphone (Realtek High Definition Audio)", api="Windows DirectSound"),
    device(8, "Microphone (Realtek High Definition Audio)", api="Windows WASAPI"),
    device(11, "Microphone (Realtek HD Audio Mic input)", api="Windows WDM-KS"),
]


def test_linux_inputs_are_named_for_people_with_the_system_default_first() -> None:
    choices = input_choices(LINUX)
    assert [choice.label for choice in choices] == [
        "System default",
        "HDA Intel PCH: ALC3246 Analog",
        "USB PnP Sound Device: Audio",
        "PipeWire sound server",
        "PulseAudio sound server",
    ]
    assert [choice.is_default for choice in choices] == [True] + [False] * 4


def test_windows_lists_each_microphone_once_and_names_the_default() -> None:
    assert [choice.label for choice in input_choices(WINDOWS)] == [
        "System default: Microphone (Realtek High Defini",
        "Microphone (Realtek High Definition Audio)",
        "Microphone (Realtek HD Audio Mic input)",
    ]


@pytest.mark.parametrize("devices", [LINUX, WINDOWS], ids=["linux", "windows"])
def test_each_choice_opens_the_device_its_raw_name_opened(devices: list[InputDevice]) -> None:
    choices = input_choices(devices)
    assert find_device(choices[0].device, devices) == find_device(None, devices)
    for choice in choices:
        opened = find_device(choice.device, devices)
        assert opened is not None and opened.name == choice.device
        assert opened == next(d for d in devices if d.name == choice.device)


def test_twin_cards_stay_apart_and_a_list_of_plugins_alone_is_still_offered() -> None:
    twins = [device(1, "USB Audio: - (hw:1,0)", default=True), device(2, "USB Audio: - (hw:2,0)")]
    assert [choice.label for choice in input_choices(twins)] == [
        "System default: USB Audio: -",
        "USB Audio: - (2)",
    ]
    plugins_only = [device(3, "sysdefault"), device(4, "dsnoop")]
    assert [choice.device for choice in input_choices(plugins_only)] == ["sysdefault", "dsnoop"]
