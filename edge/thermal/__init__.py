"""Staying cool: sensors, board power model, the thermal governor and its simulator.

The daemon builds a :class:`~edge.thermal.governor.Governor` from the thermal
config and the operating points it can offer, feeds it the CPU time it spends
per second of audio (``observe``) and calls ``step`` about once a second. The
governor answers with a :class:`~edge.thermal.governor.Decision`: which
operating point (generator tier + synth level) to use from the next bar line,
the fan speed, and why.
"""

from edge.thermal.governor import Decision, Governor, OperatingPoint, default_operating_points
from edge.thermal.power import PROFILES, BoardProfile, detect_board, profile_for
from edge.thermal.sensors import Sensors, sensor_report

__all__ = [
    "PROFILES",
    "BoardProfile",
    "Decision",
    "Governor",
    "OperatingPoint",
    "Sensors",
    "default_operating_points",
    "detect_board",
    "profile_for",
    "sensor_report",
]
