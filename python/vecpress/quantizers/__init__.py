"""Codecs that follow one protocol (:class:`Quantizer`): train / encode / decode /
compute_tables, ``code_size``, ``ksub``, ``codebooks``. Usable alone or as the codec
of an index."""
from .base import Quantizer
from .binary import BinaryQuantizer
from .group_rq import GroupResidualQuantizer
from .pq import ProductQuantizer
from .rabitq import RaBitQuantizer
from .rotations import PCARotation, PQRotation
from .rq import ResidualQuantizer

__all__ = ["Quantizer", "BinaryQuantizer", "GroupResidualQuantizer", "ProductQuantizer",
           "ResidualQuantizer", "PCARotation", "PQRotation"]
__all__ += ["RaBitQuantizer"]
