"""Pictures of the repository: the Flux graph, the capacity plan and the GPU packing, as Mermaid, DOT, and
one self-contained HTML page (`mlplatform report`)."""
