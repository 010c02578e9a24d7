//! holdfast-volume: volumes, config, probes.
