"""Decoding on a device (`toontag index --hwaccel cuda`: NVIDIA's NVDEC) through PyAV's own
FFmpeg: whether this machine can, in one line where it cannot. `video.decode.Video` opens a
file on the device and falls back to FFmpeg's own decoder where the device rejects a stream."""

from __future__ import annotations

import av
from av.codec.hwaccel import HWAccel, hwdevices_available

from toontag.errors import ToontagError
from toontag.io import descriptor_path

# the pixel formats of frames still on a device (FFmpeg's hardware formats)
DEVICE_FORMATS = frozenset({"cuda", "vaapi", "qsv", "vulkan", "drm_prime", "d3d11", "videotoolbox"})


def hardware_decoding(device_type: str, *, here: bool = True) -> None:
    """Check that FFmpeg can decode on a `device_type` device ("cuda": NVIDIA's NVDEC; the
    types of `av.codec.hwaccel.hwdevices_available()`), on this machine unless not `here`
    (then the type alone): a one-line `ToontagError` saying why not (no such type in this
    FFmpeg build, no H.264 decoder for it, no device or driver on this machine)."""
    known = hwdevices_available()
    if device_type not in known:
        raise ToontagError(
            f"hardware decoding {device_type!r}: not in this PyAV's FFmpeg "
            f"(it has: {', '.join(known) or 'none'})"
        )
    if not here:
        return
    try:
        HWAccel(device_type, allow_software_fallback=False).create(av.Codec("h264", "r"))
    except NotImplementedError:  # a device type FFmpeg has, with no H.264 decoder for it
        raise ToontagError(
            f"hardware decoding {device_type!r}: this PyAV's FFmpeg cannot decode H.264 there"
        ) from None
    except (OSError, av.error.FFmpegError, RuntimeError) as e:
        raise no_device(device_type, e) from None


def opens_plain(file) -> bool:
    """Whether FFmpeg opens `file` (an open file) without a device."""
    try:
        av.open(descriptor_path(file.fileno()), "r").close()
    except (av.error.FFmpegError, UnicodeDecodeError):
        return False
    return True


def no_device(device_type: str | None, error: Exception) -> ToontagError:
    """The one-line error of a device that is not there (no driver, no permission)."""
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return ToontagError(f"hardware decoding {device_type!r}: no usable device here ({reason})")
