"""The distillation losses params.yaml may name (c2q.training.distill); a leaf of its own, so adding a
method reruns the distilled students and nothing upstream of them."""

DISTILL_METHODS = ("hinton", "notebook", "standardised")
