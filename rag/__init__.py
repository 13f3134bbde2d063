"""Answer questions from an index: rewrite, retrieve, fuse, rerank, gate, generate, cite, evaluate."""
