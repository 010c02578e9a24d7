//! holdfast-repo: the snapshot repository.
