"""Cryptomatte EXR files: object mattes from ranked ID/coverage channels and a manifest.

The Cryptomatte standard (Psyop, specification 1.1.0) stores, for a type named e.g.
``CryptoObject``, channel pairs ``CryptoObject00.R/.G`` and ``.B/.A``,
``CryptoObject01.R/.G``...: an object ID (a float) and its coverage in the pixel, ranked
by coverage. The header holds ``cryptomatte/<key>/name``, ``/hash`` (MurmurHash3_32),
``/conversion`` (uint32_to_float32) and the manifest, ``/manifest`` (JSON: name to the
8-digit hex of the ID's float bits) or ``/manif_file`` (a sidecar JSON file, relative to
the EXR). An object's matte is the sum of its coverages over all ranks.
"""

import fnmatch
import json
import pathlib
import re
import struct

import numpy as np

from sss_vfx.errors import FeatureError, OptionError

__all__ = [
    "CryptomatteLayer",
    "cryptomatte_layers",
    "id_to_float",
    "mm3hash_float",
    "murmurhash3_32",
    "object_mattes",
    "parse_patterns",
]

_KEY = re.compile(r"^cryptomatte/([0-9A-Za-z]{1,7})/(name|hash|conversion|manifest|manif_file)$")


class CryptomatteLayer:
    """One Cryptomatte type of an EXR: its name and manifest.

    Attributes
    ----------
    name : str
        The type name, e.g. ``'CryptoObject'``; channels are ``<name>NN.R/G/B/A``.
    key : str
        The metadata key of the header (up to 7 characters).
    manifest : dict of str to int or None
        Object name to its ID's float bits (uint32); None when the file has none.
    """

    def __init__(self, name, key, manifest):
        self.name = name
        self.key = key
        self.manifest = manifest

    def __repr__(self):
        count = "no manifest" if self.manifest is None else f"{len(self.manifest)} names"
        return f"CryptomatteLayer({self.name!r}, key={self.key!r}, {count})"


def murmurhash3_32(data, seed=0):
    """MurmurHash3_x86_32 of bytes or a UTF-8 string, as an unsigned 32-bit int.

    Parameters
    ----------
    data : bytes or str
    seed : int, optional

    Returns
    -------
    int in [0, 2**32)

    Examples
    --------
    >>> hex(murmurhash3_32(b""))
    '0x0'
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    blocks = len(data) // 4
    for (k,) in struct.iter_unpack("<I", data[:blocks * 4]):
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[blocks * 4:]
    k = 0
    for i in reversed(range(len(tail))):
        k = (k << 8) | tail[i]
    if tail:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


def mm3hash_float(name):
    """The Cryptomatte ID of a name: its MurmurHash3_32 with the float exponent clamped.

    The exponent bits are clamped to [1, 254] so that no ID is a denormal, inf or NaN.

    Parameters
    ----------
    name : str

    Returns
    -------
    bits : int
        The float32 bits (what manifests store as 8 hex digits).
    """
    h = murmurhash3_32(name)
    exponent = min(max((h >> 23) & 0xFF, 1), 254)
    return (h & 0x807FFFFF) | (exponent << 23)


def id_to_float(bits):
    """Float32 value whose bits are ``bits`` (a uint32)."""
    return np.array([bits], np.uint32).view(np.float32)[0]


def cryptomatte_layers(header, exr_path=None):
    """The Cryptomatte types an EXR header declares.

    Parameters
    ----------
    header : dict
        The EXR header (string attributes are read; others are ignored).
    exr_path : str or os.PathLike, optional
        The EXR's path, to find a sidecar manifest (``manif_file``).

    Returns
    -------
    list of CryptomatteLayer
        In the order of their names; empty when the header declares none.

    Raises
    ------
    FeatureError
        If a declared type uses another hash or conversion than the standard's, or its
        manifest is not valid JSON of names to 8-digit hex IDs.
    """
    fields = {}
    for attribute, value in header.items():
        match = _KEY.match(str(attribute))
        if match and isinstance(value, (str, bytes)):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            fields.setdefault(match.group(1), {})[match.group(2)] = text
    layers = []
    for key, entries in fields.items():
        if "name" not in entries:
            continue
        where = f"{exr_path or 'the EXR'} (Cryptomatte {entries['name']!r})"
        if entries.get("hash", "MurmurHash3_32") != "MurmurHash3_32" or \
                entries.get("conversion", "uint32_to_float32") != "uint32_to_float32":
            raise FeatureError(
                f"{where} uses hash {entries.get('hash')!r} / conversion "
                f"{entries.get('conversion')!r}; only MurmurHash3_32 / uint32_to_float32 "
                "(the Cryptomatte standard) is supported, re-render with those")
        manifest = None
        if "manifest" in entries:
            manifest = _parse_manifest(entries["manifest"], where)
        elif "manif_file" in entries and exr_path is not None:
            sidecar = pathlib.Path(exr_path).parent / entries["manif_file"]
            try:
                text = sidecar.read_text(encoding="utf-8")
            except OSError as exc:
                raise FeatureError(
                    f"{where} names the manifest file {sidecar}, which cannot be read "
                    f"({exc.strerror or exc}); put it beside the EXR") from exc
            manifest = _parse_manifest(text, where)
        layers.append(CryptomatteLayer(entries["name"], key, manifest))
    return sorted(layers, key=lambda layer: layer.name)


def parse_patterns(names, *, parameter="names"):
    """Split a comma-separated pattern list, ``'hero,car*'``, into its patterns.

    Parameters
    ----------
    names : str or sequence of str
        Comma-separated text, or patterns already split. Shell-style wildcards
        (``*``, ``?``, ``[...]``) are allowed; surrounding spaces are dropped.
    parameter : str, optional
        Name for error messages.

    Returns
    -------
    list of str
        The patterns, in order, without empty or repeated ones.

    Raises
    ------
    OptionError
        If no pattern is left.
    """
    items = names.split(",") if isinstance(names, str) else list(names)
    patterns = []
    for item in items:
        if not isinstance(item, str):
            raise OptionError(f"{parameter} must be text like 'hero,car*', got {item!r}")
        item = item.strip()
        if item and item not in patterns:
            patterns.append(item)
    if not patterns:
        raise OptionError(f"{parameter} is empty; give object names like 'hero,car*'")
    return patterns


def object_mattes(channels, layer, patterns, *, source="the Cryptomatte", absent_ok=False):
    """Mattes of the objects matching each pattern, one matte per pattern.

    Parameters
    ----------
    channels : dict of str to ndarray (H, W) float32
        The EXR's channels (float32 IDs must be stored as 32-bit floats, as the
        standard requires).
    layer : CryptomatteLayer
        The type to decode; it must have a manifest.
    patterns : list of str
        Shell-style name patterns (see :func:`parse_patterns`); each becomes one
        object, the union of the names it matches.
    source : str, optional
        Name for error messages.
    absent_ok : bool, optional
        A pattern matching no name of the manifest gives an empty matte (a frame of a
        shot whose manifest lists only the objects it shows).

    Returns
    -------
    ndarray, shape (H, W, len(patterns)), float32
        Coverage summed over ranks and over the matched names, clipped to [0, 1].

    Raises
    ------
    FeatureError
        If the layer has no manifest, no rank channels, or (unless ``absent_ok``) a
        pattern matches no name of the manifest.
    """
    if layer.manifest is None:
        raise FeatureError(
            f"{source} has no manifest for {layer.name!r}, so objects cannot be picked by "
            "name; re-render with the manifest in the header (or as manif_file)")
    ranks = _rank_pairs(channels, layer.name)
    if not ranks:
        raise FeatureError(
            f"{source} declares {layer.name!r} but has no {layer.name}00.R/G/B/A channels; "
            "export the Cryptomatte channels with the header")
    known = sorted(layer.manifest)
    shape = next(iter(channels.values())).shape
    mattes = np.zeros(shape + (len(patterns),), np.float32)
    for index, pattern in enumerate(patterns):
        matched = [name for name in known if fnmatch.fnmatchcase(name, pattern)]
        if not matched and absent_ok:
            continue
        if not matched:
            preview = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
            raise FeatureError(
                f"{source}: no object of {layer.name!r} matches {pattern!r}; its manifest "
                f"holds {preview or 'no names'}; fix the names")
        ids = np.array([layer.manifest[name] for name in matched], np.uint32).view(np.float32)
        for id_channel, coverage in ranks:
            hit = np.isin(id_channel, ids)
            mattes[..., index] += np.where(hit, coverage, 0.0)
    return np.clip(mattes, 0.0, 1.0)


def _rank_pairs(channels, type_name):
    pairs = []
    for index in range(100):
        prefix = f"{type_name}{index:02d}."
        present = {name[len(prefix):].upper()[:1]: channels[name] for name in channels
                   if name.startswith(prefix)}
        if not present:
            break
        for id_letter, cov_letter in (("R", "G"), ("B", "A")):
            if id_letter in present and cov_letter in present:
                pairs.append((present[id_letter], present[cov_letter]))
    return pairs


def _parse_manifest(text, where):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeatureError(f"{where} has a manifest that is not valid JSON ({exc}); "
                           "re-export it") from exc
    if not isinstance(data, dict):
        raise FeatureError(f"{where} has a manifest that is not a JSON object of names to "
                           "IDs; re-export it")
    manifest = {}
    for name, value in data.items():
        try:
            manifest[str(name)] = int(str(value), 16)
        except ValueError as exc:
            raise FeatureError(f"{where}: manifest entry {name!r} has ID {value!r}, not 8 "
                               "hex digits; re-export it") from exc
    return manifest
