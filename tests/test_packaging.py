"""What the install brings: one OpenCV (headless, no libGL) and the scenedetect API used."""

import importlib.metadata as metadata


def test_exactly_one_opencv_is_installed_and_it_is_headless():
    opencv = sorted(
        d.metadata["Name"].lower()
        for d in metadata.distributions()
        if d.metadata["Name"] and d.metadata["Name"].lower().startswith("opencv")
    )
    assert opencv == ["opencv-python-headless"]
    import cv2

    assert cv2.imdecode is not None


def test_the_declared_scenedetect_has_the_api_used():
    requires = metadata.requires("toontag")
    assert any(r.replace(" ", "").startswith("scenedetect-headless>=0.7") for r in requires)
    from scenedetect.common import Timecode  # 0.7's, used by toontag.video.shots

    assert Timecode is not None
