//! smemu-types (work in progress).
