//! Token verification for sibling services (placeholder; being written).
