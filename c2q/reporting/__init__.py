"""Tables, statistics and figures of the aggregate stage."""
