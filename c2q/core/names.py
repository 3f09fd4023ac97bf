"""The teachers and circuit simulators params.yaml may name; a leaf, so params validate without torch."""

TRAINED_TEACHERS = ("lenet", "alexnet")
ENSEMBLE = "ensemble"  # the mean of trained teachers' logits; never trained itself
SIMULATORS = ("fused", "torchquantum")
