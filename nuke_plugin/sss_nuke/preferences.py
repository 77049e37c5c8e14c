"""The ``sss-vfx`` executable as a Nuke preference (Preferences > sss_vfx)."""

import nuke

from sss_nuke.node import path_value

PREFERENCE_KNOB = "sss_vfx_executable"


def add_preferences() -> None:
    """Add the sss_vfx tab to Nuke's preferences, once."""
    preferences = nuke.toNode("preferences")
    if preferences is None or preferences.knob(PREFERENCE_KNOB) is not None:
        return
    preferences.addKnob(nuke.Tab_Knob("sss_vfx_tab", "sss_vfx"))
    knob = nuke.File_Knob(PREFERENCE_KNOB, "sss-vfx executable")
    knob.setTooltip("the sss-vfx program of your sss_vfx install; "
                    "$SSS_VFX_EXECUTABLE is used when this is empty")
    preferences.addKnob(knob)


def preferred_executable() -> str:
    """The preference's value with its TCL expanded, or an empty string."""
    preferences = nuke.toNode("preferences")
    knob = None if preferences is None else preferences.knob(PREFERENCE_KNOB)
    return "" if preferences is None or knob is None else path_value(preferences,
                                                                     PREFERENCE_KNOB)
