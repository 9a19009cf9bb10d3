//! smemu-api (work in progress).
