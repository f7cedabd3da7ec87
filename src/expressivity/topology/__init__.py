"""Topology of decision regions and of data through the layers of a network.

Slices of input space are rasterised, each class region gets its Betti
numbers from a cubical complex, the margin gets a persistence diagram, and
Milnor's bound gives the theoretical maximum for polynomial networks.
"""

from expressivity.topology.analysis import (
    ClassTopology,
    Convergence,
    SliceTopology,
    analyze_slice,
    stable_resolution,
)
from expressivity.topology.bounds import (
    BettiBound,
    milnor_bound,
    milnor_bound_several,
    output_degree,
    region_bound,
)
from expressivity.topology.cubical import (
    CONSTRUCTIONS,
    PersistenceDiagram,
    RegionHomology,
    cubical_persistence,
    margin_persistence,
    region_homology,
)
from expressivity.topology.layers import (
    LayerTopology,
    layer_outputs,
    point_cloud_betti,
    topology_through_layers,
)
from expressivity.topology.raster import Raster, labels_and_margins, rasterize
from expressivity.topology.slices import (
    AffineSlice,
    box_around,
    input_space_slice,
    principal_slice,
    random_slice,
    slice_along_directions,
    slice_through_points,
)
from expressivity.topology.synthetic import (
    SYNTHETIC_SETS,
    known_betti_numbers,
    make_synthetic,
)

__all__ = [
    "CONSTRUCTIONS",
    "SYNTHETIC_SETS",
    "LayerTopology",
    "known_betti_numbers",
    "layer_outputs",
    "make_synthetic",
    "point_cloud_betti",
    "topology_through_layers",
    "AffineSlice",
    "BettiBound",
    "ClassTopology",
    "Convergence",
    "PersistenceDiagram",
    "Raster",
    "RegionHomology",
    "SliceTopology",
    "analyze_slice",
    "box_around",
    "cubical_persistence",
    "input_space_slice",
    "labels_and_margins",
    "margin_persistence",
    "milnor_bound",
    "milnor_bound_several",
    "output_degree",
    "principal_slice",
    "random_slice",
    "rasterize",
    "region_bound",
    "region_homology",
    "slice_along_directions",
    "slice_through_points",
    "stable_resolution",
]
