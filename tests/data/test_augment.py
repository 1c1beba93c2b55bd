import torch

from toontag.data.augment import flip_crop_batch


def batch(n=6, h=12, w=20):
    return torch.randint(0, 256, (n, h, w, 3), dtype=torch.uint8)


def test_flip_crop_keeps_shape_and_only_moves_pixels():
    pixels = batch()
    out = flip_crop_batch(pixels, torch.Generator().manual_seed(0))
    assert out.shape == pixels.shape and out.dtype == torch.uint8
    for image, source in zip(out, pixels, strict=True):  # every output pixel is an input pixel
        colours = {tuple(p) for p in source.reshape(-1, 3).tolist()}
        assert {tuple(p) for p in image.reshape(-1, 3).tolist()} <= colours


def test_without_zoom_and_shift_each_image_is_itself_or_its_mirror():
    pixels = batch(n=32)
    out = flip_crop_batch(pixels, torch.Generator().manual_seed(1), shift=0.0, zoom=0.0)
    same = (out == pixels).flatten(1).all(1)
    mirrored = (out == pixels.flip(2)).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 0 < int(mirrored.sum()) < 32  # each image draws its own flip


def test_flip_crop_is_seeded():
    pixels = batch()
    a = flip_crop_batch(pixels, torch.Generator().manual_seed(3))
    b = flip_crop_batch(pixels, torch.Generator().manual_seed(3))
    c = flip_crop_batch(pixels, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
