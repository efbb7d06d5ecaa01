"""The ``pose`` detector plugin: garment boxes from MediaPipe Pose body joints (see README.md)."""
from plugins.pose.boxes import garment_boxes_from_joints, joints_from_mediapipe, usable_joints
from plugins.pose.detector import PoseDetector

__all__ = ["PoseDetector", "garment_boxes_from_joints", "joints_from_mediapipe", "usable_joints"]
