use thiserror::Error;

/// Errors the core reports to its callers; the bindings map them to Python exceptions.
#[derive(Debug, Error)]
pub enum CoreError {
    #[error("expected a string column (utf8, large_utf8 or utf8_view), got {0}")]
    NotAStringColumn(String),
    #[error("expected a binary column (binary, large_binary or binary_view), got {0}")]
    NotABinaryColumn(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, CoreError>;
