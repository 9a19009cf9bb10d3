//! smemu-store (work in progress).
