//! smemu-runtime (work in progress).
