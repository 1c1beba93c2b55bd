import numpy as np

from toontag.data.cache import build_cache
from toontag.data.images import load_resized


def test_cache_holds_decoded_frames_and_is_reused(dataset, tmp_path):
    paths = [s.path for s in dataset.samples[:40]]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(paths[0].read_bytes()[:500])
    cache = build_cache([*paths, broken], size=(36, 64), root=tmp_path, workers=2)
    assert cache.images.shape == (41, 36, 64, 3) and cache.seconds > 0
    assert np.array_equal(cache.images[7], load_resized(paths[7], (36, 64))[0])
    assert list(cache.failed) == [40] and "cannot decode" in cache.failed[40]
    assert cache.ok.tolist() == list(range(40))
    again = build_cache([*paths, broken], size=(36, 64), root=tmp_path)
    assert again.seconds == 0.0 and np.array_equal(again.images, cache.images)
    assert again.failed == cache.failed
    other = build_cache(paths, size=(18, 32), root=tmp_path)  # a new size is a new cache
    assert other.images.shape == (40, 18, 32, 3)
    assert not list(tmp_path.glob(".*.tmp"))
