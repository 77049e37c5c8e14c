"""The ``sss-vfx video`` command line of one Compute."""

from typing import List, Optional

from sss_nuke.settings import ComputeSettings


def build_command(executable: str, image: str, output_dir: str,
                  settings: ComputeSettings, features: Optional[str] = None,
                  guides: Optional[str] = None, ocio: Optional[str] = None,
                  colorspace: Optional[str] = None) -> List[str]:
    """Return the argument list that computes `settings` on `image` into `output_dir`.

    Parameters
    ----------
    executable : str
        The ``sss-vfx`` program.
    image : str
        Image sequence pattern (``name.%04d.exr``) of the plate.
    output_dir : str
        Folder that receives ``layers.%04d.exr`` and ``manifest.json``.
    settings : ComputeSettings
        Frame range and method parameters.
    features : str, optional
        Image sequence pattern of the semantic features.
    guides : str, optional
        Image sequence pattern of the guides (rough per-object mattes).
    ocio : str, optional
        The OpenColorIO config (``--ocio``): a ``.ocio`` file or an ``ocio://`` name.
    colorspace : str, optional
        The plate's colour space in that config (``--colorspace``).

    Returns
    -------
    list of str
        For ``subprocess.Popen``; progress comes as JSON lines on standard error.

    Examples
    --------
    >>> build_command('sss-vfx', 'a.%04d.exr', 'out', ComputeSettings(1, 3))[:6]
    ['sss-vfx', 'video', 'a.%04d.exr', '-o', 'out', '--frames']
    """
    command = [executable, "video", image, "-o", output_dir,
               "--frames", "{}-{}".format(settings.first, settings.last),
               "--layers", str(settings.layers),
               "--max-pixels", str(settings.max_pixels),
               "--device", settings.device,
               "--progress", "json"]
    if settings.temporal:
        command += ["--temporal-weight", repr(settings.temporal_weight)]
    else:
        command.append("--no-temporal")
    if features:
        command += ["--features", features]
    elif settings.person:
        command += ["--features", "person"]
    if guides:
        command += ["--guides", guides]
        if settings.guides_names:
            command += ["--guides-names", settings.guides_names]
    if settings.feature_model:
        command += ["--feature-model", settings.feature_model]
    if ocio:
        command += ["--ocio", ocio]
    if colorspace:
        command += ["--colorspace", colorspace]
    return command + list(settings.extra_args)
