"""Layer colours on a torch device (twin of :mod:`sss_vfx.segments.colours`).

The same energy, system and steps: the colour system is applied matrix-free on the
``(h, w, K, 3)`` grid (per-pixel ``a a^T + diag`` blocks and the four-neighbour
smoothness terms) instead of as an assembled sparse matrix, and preconditioned by the
same exact inverses of the per-pixel blocks; the downscale, upsampling and exact-sum
correction follow the reference step for step.
"""


from sss_vfx.accel.torch_common import (
    as_tensor,
    given_tensor,
    import_torch,
    returned,
    torch_device,
)
from sss_vfx.accel.torch_guided import area_downscale, linear_resize
from sss_vfx.errors import OptionError
from sss_vfx.segments.colours import (
    EXACT_TOLERANCE,
    SOLVE_MAX_PIXELS,
    _check_solver,
    _checked_inputs,
    _solve_shape,
)

__all__ = ["torch_layer_colours"]


def torch_layer_colours(image, alphas, *, max_pixels=SOLVE_MAX_PIXELS, smoothness=1.0,
                        presence=0.01, prior=1e-4, rtol=1e-4, max_steps=500, device=None):
    """Per-layer colours whose alpha-weighted sum is the plate, on ``device``.

    Twin of :func:`sss_vfx.segments.colours.layer_colours` (same parameters, checks and
    result), plus ``device``.

    Parameters
    ----------
    image : (H, W, 3) float array or tensor in [0, 1]
    alphas : (H, W, K) float array or tensor in [0, 1], summing to 1
    device : torch.device or str, optional

    Returns
    -------
    (H, W, K, 3) float32 colours in [0, 1] (a tensor when ``alphas`` is one)

    Raises
    ------
    OptionError
        As the reference.
    """
    torch = import_torch()
    dev = torch_device(device)
    tensors = given_tensor(alphas)
    if tensors:
        # The checks need every value once; for tensors they run on the device.
        image_t = as_tensor(image, dev, torch.float32)
        alphas_t = as_tensor(alphas, dev, torch.float32)
        _check_tensors(image_t, alphas_t)
        image_t, alphas_t = image_t.clamp(0.0, 1.0), alphas_t.clamp(0.0, 1.0)
    else:
        image_np, alphas_np = _checked_inputs(image, alphas)
        image_t, alphas_t = as_tensor(image_np, dev), as_tensor(alphas_np, dev)
    _check_solver(smoothness, presence, prior, rtol, max_steps, max_pixels)
    height, width, k = alphas_t.shape
    h, w = _solve_shape(height, width, int(max_pixels))
    if (h, w) == (height, width):
        small_image, small_alphas = image_t.to(torch.float64), alphas_t.to(torch.float64)
    else:
        small_image = area_downscale(image_t, (h, w)).to(torch.float64)
        small_alphas = area_downscale(alphas_t, (h, w)).to(torch.float64)
    colours = _solve_colours(small_image, small_alphas, smoothness, presence, prior, rtol,
                             int(max_steps))
    colours = colours.clamp(0.0, 1.0).to(torch.float32)
    if (h, w) != (height, width):
        colours = linear_resize(colours, (height, width))
    _sum_to_plate(colours, alphas_t, image_t)
    return returned(colours, tensors)


def _check_tensors(image, alphas):
    if image.ndim != 3 or image.shape[2] != 3:
        raise OptionError(f"image must have shape (H, W, 3), got {tuple(image.shape)}")
    if alphas.ndim != 3 or alphas.shape[:2] != image.shape[:2] or alphas.shape[2] < 1:
        raise OptionError(f"alphas must have shape (H, W, K) with (H, W) = "
                          f"{tuple(image.shape[:2])}, got {tuple(alphas.shape)}")
    for name, t in (("image", image), ("alphas", alphas)):
        if not bool(t.isfinite().all()) or float(t.min()) < -1e-3 or float(t.max()) > 1 + 1e-3:
            raise OptionError(f"{name} must be finite and in [0, 1]; convert scene-linear "
                              "plates to display-referred and normalise the mattes")
    if float((alphas.sum(dim=2) - 1.0).abs().max()) > 1e-3:
        raise OptionError("alphas must sum to 1 at every pixel; normalise the layers "
                          "(sss_vfx.segments.upsample.normalise_layers)")


def _solve_colours(image, alphas, smoothness, presence, prior, rtol, max_steps):
    """PCG on the colour system; image (h, w, 3), alphas (h, w, K) float64 tensors.

    Returns (h, w, K, 3) float64 colours.
    """
    torch = import_torch()
    h, w, k = alphas.shape
    wx = (smoothness * (0.5 * (alphas[:, 1:] + alphas[:, :-1]) + presence))[..., None]
    wy = (smoothness * (0.5 * (alphas[1:] + alphas[:-1]) + presence))[..., None]
    diag = torch.full((h, w, k, 1), float(prior), dtype=torch.float64, device=image.device)
    diag[:, 1:] += wx
    diag[:, :-1] += wx
    diag[1:] += wy
    diag[:-1] += wy
    a = alphas[..., None]

    def apply(x):
        y = diag * x + a * (a * x).sum(dim=2, keepdim=True)
        y[:, 1:] -= wx * x[:, :-1]
        y[:, :-1] -= wx * x[:, 1:]
        y[1:] -= wy * x[:-1]
        y[:-1] -= wy * x[1:]
        return y

    # (D + a a^T)^-1 = D^-1 - D^-1 a a^T D^-1 / (1 + a^T D^-1 a), D the block's diagonal.
    a_d = alphas / diag[..., 0]
    inverse = -a_d[..., :, None] * a_d[..., None, :] / \
        (1.0 + (alphas * a_d).sum(dim=2))[..., None, None]
    inverse = inverse + torch.diag_embed(1.0 / diag[..., 0])

    def precondition(r):
        return inverse @ r

    rhs = (alphas + prior)[..., None] * image[:, :, None, :]
    x = image[:, :, None, :].expand(h, w, k, 3).clone()
    r = rhs - apply(x)
    limit = rtol * rtol * float((rhs * rhs).sum())
    z = precondition(r)
    p = z.clone()
    rz = float((r * z).sum())
    steps = 0
    while steps < max_steps and float((r * r).sum()) > limit:
        q = apply(p)
        step = rz / float((p * q).sum())
        x += step * p
        r -= step * q
        z = precondition(r)
        rz_new = float((r * z).sum())
        p = z + (rz_new / rz) * p
        rz = rz_new
        steps += 1
    return x


def _sum_to_plate(colours, alphas, image):
    """Make ``sum_k a_k F_k = I`` with F in [0, 1], in place; float32 tensors
    (H, W, K, 3), (H, W, K), (H, W, 3)."""
    torch = import_torch()
    k = alphas.shape[-1]
    f = colours.reshape(-1, k, 3)
    a = alphas.reshape(-1, k)
    plate = image.reshape(-1, 3)
    residual = plate - torch.einsum("nk,nkc->nc", a, f)
    f += (a / torch.einsum("nk,nk->n", a, a)[:, None])[:, :, None] * residual[:, None, :]
    f.clamp_(0.0, 1.0)
    residual = plate - torch.einsum("nk,nkc->nc", a, f)
    index = torch.nonzero(residual.abs().amax(dim=1) > EXACT_TOLERANCE).ravel()
    for _ in range(k):
        if not len(index):
            return
        sub, aa = f[index], a[index]
        residual = plate[index].to(torch.float64) - torch.einsum(
            "nk,nkc->nc", aa.to(torch.float64), sub.to(torch.float64))
        off = residual.abs().amax(dim=1) > EXACT_TOLERANCE
        index, sub, aa = index[off], sub[off], aa[off]
        residual = residual[off].to(torch.float32)
        free = torch.where(residual[:, None, :] > 0, sub < 1.0, sub > 0.0) & (aa[..., None] > 0)
        weight = torch.einsum("nk,nkc->nc", aa * aa, free.to(torch.float32))
        step = torch.where(weight > 0, residual / torch.where(weight > 0, weight,
                                                              torch.ones_like(weight)),
                           torch.zeros_like(residual))
        sub = sub + aa[..., None] * free * step[:, None, :]
        f[index] = sub.clamp(0.0, 1.0)
