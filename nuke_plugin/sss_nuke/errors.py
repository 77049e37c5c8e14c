"""The plugin's errors: one root and a class per kind of failure.

Each message says what is wrong and what to do; the node shows it in its status line
and in a message box.
"""


class SssNukeError(Exception):
    """Root of every error the node reports to the artist."""


class SetupError(SssNukeError):
    """The ``sss-vfx`` executable or the cache folder cannot be used."""


class SettingsError(SssNukeError):
    """A knob holds a value the command cannot take."""


class InputError(SssNukeError):
    """The node's input cannot be read or rendered for the frames asked."""


class CommandError(SssNukeError):
    """``sss-vfx`` failed; the message is its own error line."""
