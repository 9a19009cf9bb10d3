//! smemu-objects (work in progress).
