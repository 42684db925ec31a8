"""A pinhole (perspective) camera: the photo's intrinsics and the head's pose in front of it.

Frames: the world is the base mesh's frame (mm; +x subject's left, +y up, +z anterior); the camera
frame is the usual computer-vision one (+x image right, +y image down, +z forward along the optical
axis). ``x_cam = R @ x_world + t``; a pixel is ``(f x/z + cx, f y/z + cy)`` with ``(0, 0)`` the top
left corner of the top left pixel's... centre convention: pixel centres at integer + 0.5 are not used;
mediapipe's normalised landmarks times the image size are compared directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the diagonal of a 35 mm film frame (mm), for a 35 mm-equivalent focal length
FILM_DIAGONAL_MM = 43.27
#: the camera frame seen from the front: image right is the subject's left, image down is inferior,
#: the optical axis points posterior
FRONT = np.diag([1.0, -1.0, -1.0])


def rotation(yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """The head's rotation in the world frame: yaw about +y (positive: the face turns toward its own
    left), pitch about +x (positive: chin down), roll about +z."""
    a, b, c = np.radians([yaw_deg, pitch_deg, roll_deg])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def rodrigues(rvec: np.ndarray) -> np.ndarray:
    """The rotation matrix of a rotation vector (axis times angle in radians)."""
    rvec = np.asarray(rvec, dtype=float)
    th = float(np.linalg.norm(rvec))
    if th < 1e-12:
        return np.eye(3)
    k = rvec / th
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(th) * kx + (1 - np.cos(th)) * kx @ kx


def rotation_vector(r: np.ndarray) -> np.ndarray:
    """The rotation vector of a rotation matrix (inverse of :func:`rodrigues`)."""
    cos = np.clip((np.trace(r) - 1) / 2, -1.0, 1.0)
    th = float(np.arccos(cos))
    if th < 1e-9:
        return np.zeros(3)
    v = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return th * v / (2 * np.sin(th))


@dataclass(frozen=True)
class Camera:
    """A pinhole camera and the head's pose: ``x_cam = R @ x_world + t``.

    Attributes
    ----------
    focal_px : float
        The focal length in pixels (square pixels, principal point at the image centre).
    width, height : int
        The image's size in pixels.
    r : (3, 3) float
        The rotation from the world (head) frame to the camera frame.
    t : (3,) float
        The translation (mm) in the camera frame.
    """

    focal_px: float
    width: int
    height: int
    r: np.ndarray
    t: np.ndarray

    @property
    def centre(self) -> np.ndarray:
        return np.array([self.width / 2.0, self.height / 2.0])

    @property
    def view_angle_deg(self) -> float:
        """The vertical field of view (VTK's ``view_angle``)."""
        return float(np.degrees(2 * np.arctan(self.height / 2 / self.focal_px)))

    def to_camera(self, points_mm: np.ndarray) -> np.ndarray:
        """Points (n, 3) of the world in the camera frame (mm)."""
        return np.asarray(points_mm, dtype=float) @ self.r.T + self.t

    def project(self, points_mm: np.ndarray) -> np.ndarray:
        """Pixels (n, 2) of world points (n, 3)."""
        pc = self.to_camera(points_mm)
        return self.focal_px * pc[:, :2] / pc[:, 2:3] + self.centre

    def ray(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The world ray through each pixel: its origin (3,) (the camera's centre) and unit directions (n, 3)."""
        px = np.atleast_2d(np.asarray(pixels, dtype=float))
        d_cam = np.column_stack([(px - self.centre) / self.focal_px, np.ones(len(px))])
        d = d_cam @ self.r  # R^T d for each row
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        return -self.r.T @ self.t, d

    def vtk_view(self) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
        """VTK's camera position, focal point and view-up for this camera (the world frame)."""
        pos = -self.r.T @ self.t
        fwd = self.r.T @ np.array([0.0, 0.0, 1.0])
        up = self.r.T @ np.array([0.0, -1.0, 0.0])
        return tuple(pos), tuple(pos + fwd * float(self.t[2])), tuple(up)

    @staticmethod
    def focal_from_35mm(focal_35mm: float, width: int, height: int) -> float:
        """The focal length in pixels of a 35 mm-equivalent focal length (by the diagonal)."""
        return float(focal_35mm * np.hypot(width, height) / FILM_DIAGONAL_MM)

    @classmethod
    def portrait(cls, vertices_mm: np.ndarray, width: int, height: int, distance_mm: float, focal_35mm: float,
                 yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> Camera:
        """A camera ``distance_mm`` in front of the head's face, aimed at it, the head turned by ``yaw_deg``."""
        v = np.asarray(vertices_mm)
        face = v[v[:, 2] > np.percentile(v[:, 2], 60)]
        centre = np.array([0.0, float(np.median(face[:, 1])) - 15.0, float(np.median(v[:, 2]))])
        r = FRONT @ rotation(yaw_deg, pitch_deg)
        t = np.array([0.0, 0.0, distance_mm]) - r @ centre
        return cls(cls.focal_from_35mm(focal_35mm, width, height), width, height, r, t)
