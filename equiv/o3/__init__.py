"""The group O(3): rotations, irreducible representations, spherical harmonics.

The lowest layer of ``equiv``: imports nothing else from the package.
"""

from equiv.o3.harmonics import sphere_grid, spherical_function, spherical_harmonics
from equiv.o3.irreps import (
    L1_FROM_XYZ,
    Irrep,
    OuterProductDecomposition,
    OuterProductPart,
    TensorProductDecomposition,
    as_irrep,
    block_diagonal_D,
    clebsch_gordan,
    decompose_outer_product,
    l1_to_vector,
    outer_part_from_components,
    product_irreps,
    vector_to_l1,
    wigner_D,
)
from equiv.o3.labels import CARTESIAN_FORMS, component_labels
from equiv.o3.paths import TensorProductPath, uvu_paths
from equiv.o3.rotations import (
    as_tensor,
    axis_angle_to_matrix,
    euler_to_matrix,
    inversion,
    is_orthogonal,
    is_proper,
    matrix_to_axis_angle,
    matrix_to_euler,
    matrix_to_quaternion,
    quaternion_to_matrix,
    random_quaternion,
    random_rotation,
    reflection,
    rotation_angle,
)

__all__ = [
    "CARTESIAN_FORMS",
    "L1_FROM_XYZ",
    "Irrep",
    "OuterProductDecomposition",
    "OuterProductPart",
    "TensorProductDecomposition",
    "TensorProductPath",
    "as_irrep",
    "as_tensor",
    "axis_angle_to_matrix",
    "block_diagonal_D",
    "clebsch_gordan",
    "component_labels",
    "decompose_outer_product",
    "euler_to_matrix",
    "inversion",
    "is_orthogonal",
    "is_proper",
    "l1_to_vector",
    "matrix_to_axis_angle",
    "matrix_to_euler",
    "matrix_to_quaternion",
    "outer_part_from_components",
    "product_irreps",
    "quaternion_to_matrix",
    "random_quaternion",
    "random_rotation",
    "reflection",
    "rotation_angle",
    "sphere_grid",
    "spherical_function",
    "spherical_harmonics",
    "uvu_paths",
    "vector_to_l1",
    "wigner_D",
]
