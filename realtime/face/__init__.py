"""Face analysis: MediaPipe mesh (478 points), head pose, 17 action units, alignment. One implementation."""

from realtime.face.analyzer import AnalyzerOptions, FaceAnalyzer
from realtime.face.types import AU, AU_ORDER, POSE_NAMES, FaceAnalysis, HeadPose, driving_vector

__all__ = [
    "AU",
    "AU_ORDER",
    "POSE_NAMES",
    "AnalyzerOptions",
    "FaceAnalysis",
    "FaceAnalyzer",
    "HeadPose",
    "driving_vector",
]
