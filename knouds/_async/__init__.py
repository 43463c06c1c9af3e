"""The shells of `AsyncClient`: the client, its resources, the media downloads and the batch
driver."""
