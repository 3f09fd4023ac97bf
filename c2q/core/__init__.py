"""What every stage shares and nothing shapes alone: params, paths, files, errors, the vocabulary of names."""
