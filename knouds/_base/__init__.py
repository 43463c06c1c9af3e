"""What the two shells share, written by hand: the client's settings and state, the batch
bookkeeping, and the parts of the resources that do no I/O."""
