"""Images: raw datasets, their splits, and the reductions to what a student's qubits can hold."""
