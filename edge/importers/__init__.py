"""Importers for real motion formats into COCO-17 skeleton sequences (metres, y up, floor y = 0).

- ``bvh``: Biovision hierarchy files (any rotation order), forward kinematics, a data-driven
  joint-name map for common skeleton conventions.
- ``uiprmd``: the UI-PRMD rehabilitation data set (Vakanski et al., Data 2018): Kinect
  (relative positions + joint angles, 30 Hz) and Vicon (39 Plug-in Gait markers, 100 Hz).
- ``registry``: the format ids and ``import_file(path, fmt)``.

A joint a source does not provide (e.g. the face points) is NaN with confidence 0.
"""

from edge.importers.registry import FORMATS, ImportFormatError, import_file
from edge.importers.bvh import read_bvh
from edge.importers.uiprmd import read_uiprmd_kinect, read_uiprmd_vicon

__all__ = [
    "FORMATS",
    "ImportFormatError",
    "import_file",
    "read_bvh",
    "read_uiprmd_kinect",
    "read_uiprmd_vicon",
]
