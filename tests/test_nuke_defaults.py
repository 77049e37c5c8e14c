"""The Nuke node's defaults and limits are the library's (Nuke cannot import it)."""

import pathlib
import sys

import pytest

from sss_vfx.accel.devices import resolve_device
from sss_vfx.errors import DeviceError
from sss_vfx.options import MIN_MAX_PIXELS, SegmentationOptions, TemporalOptions

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "nuke_plugin"))

from sss_nuke import settings  # noqa: E402
from sss_nuke.errors import SettingsError  # noqa: E402


def test_defaults_equal_the_library_options():
    assert settings.DEFAULT_LAYERS == SegmentationOptions.layers
    assert settings.DEFAULT_MAX_PIXELS == SegmentationOptions.max_pixels
    assert settings.MIN_MAX_PIXELS == MIN_MAX_PIXELS
    assert settings.DEFAULT_TEMPORAL_WEIGHT == TemporalOptions.temporal_weight


@pytest.mark.parametrize("max_pixels", [MIN_MAX_PIXELS - 1, -1])
def test_max_pixels_limit_is_the_library_limit(max_pixels):
    with pytest.raises(SettingsError, match=str(MIN_MAX_PIXELS)):
        settings.ComputeSettings(1, 2, max_pixels=max_pixels)
    if max_pixels > 0:
        with pytest.raises(Exception, match="max_pixels"):
            SegmentationOptions(max_pixels=max_pixels)
    settings.ComputeSettings(1, 2, max_pixels=MIN_MAX_PIXELS)
    SegmentationOptions(max_pixels=MIN_MAX_PIXELS)


def test_every_device_choice_the_knob_names_is_a_device_spec():
    for choice in settings.DEVICE_CHOICES.split(", "):
        spec = choice.replace("<platform>", "0").replace("<device>", "0") \
            .replace("<index>", "0")
        try:
            resolve_device(spec)
        except DeviceError as exc:    # a spec the parser knows, absent on this machine
            assert "must be" not in str(exc), exc
