"""The regime map (study/dvc.yaml): its params, its cells and arms, its report."""
