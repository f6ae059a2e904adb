//! The C enums as open newtypes, and the element types of CPU tensors.

use std::ffi::CStr;
use std::fmt;

use aphelion_sys as sys;

use crate::error::{check, cstr, Result};

macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident, $c:literal { $($(#[$vdoc:meta])* $variant:ident = $value:path => $text:literal,)* }) => {
        $(#[$doc])*
        ///
        #[doc = concat!("An open enum (the C `", $c, "`): a `#[repr(transparent)]` `i32` with one")]
        /// associated constant per value the binding knows. A value the library returns that
        /// this binding does not know yet is kept as it is ([`Self::raw`]), never undefined
        /// behaviour; `Debug` then prints the number.
        #[repr(transparent)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i32);

        impl $name {
            $($(#[$vdoc])* pub const $variant: $name = $name($value);)*

            /// Every value this binding knows, in the header's order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),*];

            /// The value of a raw C enum value (any `i32`).
            pub const fn from_raw(raw: i32) -> $name {
                $name(raw)
            }

            /// The raw C value.
            pub const fn raw(self) -> i32 {
                self.0
            }

            /// Whether this binding knows the value.
            pub fn is_known(self) -> bool {
                Self::KNOWN.contains(&self)
            }

            /// The binding's name of the value (the header's, lowercase), `None` if unknown.
            pub fn known_name(self) -> Option<&'static str> {
                match self.0 {
                    $(v if v == $value => Some($text),)*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.known_name() {
                    Some(n) => write!(f, "{}::{}", stringify!($name), n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }
    };
}

open_enum!(
    /// Element types.
    DType, "aph_dtype" {
        /// Returned where no dtype applies.
        INVALID = sys::APH_DTYPE_INVALID => "invalid",
        F32 = sys::APH_DTYPE_F32 => "f32",
        F16 = sys::APH_DTYPE_F16 => "f16",
        BF16 = sys::APH_DTYPE_BF16 => "bf16",
        F64 = sys::APH_DTYPE_F64 => "f64",
        U8 = sys::APH_DTYPE_U8 => "u8",
        U32 = sys::APH_DTYPE_U32 => "u32",
        I8 = sys::APH_DTYPE_I8 => "i8",
        I16 = sys::APH_DTYPE_I16 => "i16",
        I32 = sys::APH_DTYPE_I32 => "i32",
        I64 = sys::APH_DTYPE_I64 => "i64",
        BOOL = sys::APH_DTYPE_BOOL => "bool",
        F8E4M3 = sys::APH_DTYPE_F8E4M3 => "f8e4m3",
        F8E5M2 = sys::APH_DTYPE_F8E5M2 => "f8e5m2",
    }
);

impl DType {
    /// Bytes per element (0 for a value outside the enum).
    pub fn size(self) -> usize {
        unsafe { sys::aph_dtype_size(self.0) }
    }
    pub fn is_floating_point(self) -> bool {
        unsafe { sys::aph_dtype_is_floating_point(self.0) != 0 }
    }
    pub fn is_half_precision(self) -> bool {
        unsafe { sys::aph_dtype_is_half_precision(self.0) != 0 }
    }
    pub fn is_training(self) -> bool {
        unsafe { sys::aph_dtype_is_training(self.0) != 0 }
    }
    pub fn is_integer(self) -> bool {
        unsafe { sys::aph_dtype_is_integer(self.0) != 0 }
    }
    /// The dtype sums of this dtype accumulate in.
    pub fn accumulator(self) -> DType {
        DType(unsafe { sys::aph_dtype_accumulator(self.0) })
    }
    /// The canonical name ("f32"; "invalid" for a value outside the enum).
    pub fn name(self) -> &'static str {
        unsafe { CStr::from_ptr(sys::aph_dtype_name(self.0)) }.to_str().unwrap_or("invalid")
    }
    /// Parses a canonical name or an alias ("float32", "int", ...).
    pub fn from_name(name: &str) -> Result<DType> {
        let c = cstr(name)?;
        let mut out = sys::APH_DTYPE_INVALID;
        check(unsafe { sys::aph_dtype_from_name(c.as_ptr(), &mut out) })?;
        Ok(DType(out))
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.known_name() {
            Some(_) => f.write_str(self.name()),
            None => write!(f, "DType({})", self.0),
        }
    }
}

impl std::str::FromStr for DType {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<DType> {
        DType::from_name(s)
    }
}

open_enum!(
    /// Mixed-precision training modes.
    PrecisionMode, "aph_precision_mode" {
        FULL = sys::APH_PRECISION_FULL => "full",
        BF16 = sys::APH_PRECISION_BF16 => "bf16",
        FP16 = sys::APH_PRECISION_FP16 => "fp16",
    }
);

impl PrecisionMode {
    pub fn compute_dtype(self) -> DType {
        DType(unsafe { sys::aph_precision_compute_dtype(self.0) })
    }
    pub fn master_weight_dtype(self) -> DType {
        DType(unsafe { sys::aph_precision_master_weight_dtype(self.0) })
    }
    pub fn requires_loss_scaling(self) -> bool {
        unsafe { sys::aph_precision_requires_loss_scaling(self.0) != 0 }
    }
}

open_enum!(
    /// CPU or CUDA.
    DeviceKind, "aph_device_kind" {
        CPU = sys::APH_DEVICE_CPU => "cpu",
        CUDA = sys::APH_DEVICE_CUDA => "cuda",
    }
);

open_enum!(
    /// Log severity, ascending (the same numbers as [`TraceLevel`]).
    LogLevel, "aph_log_level" {
        TRACE = sys::APH_LOG_TRACE => "trace",
        DEBUG = sys::APH_LOG_DEBUG => "debug",
        INFO = sys::APH_LOG_INFO => "info",
        WARN = sys::APH_LOG_WARN => "warn",
        ERROR = sys::APH_LOG_ERROR => "error",
    }
);

impl LogLevel {
    /// The library's name of the level ("warn"; "invalid" outside the enum).
    pub fn name(self) -> &'static str {
        unsafe { CStr::from_ptr(sys::aph_log_level_name(self.0)) }.to_str().unwrap_or("invalid")
    }
}

open_enum!(
    /// Presets of the default stderr log sink.
    LogPreset, "aph_log_preset" {
        DEVELOPMENT = sys::APH_LOG_PRESET_DEVELOPMENT => "development",
        PRODUCTION = sys::APH_LOG_PRESET_PRODUCTION => "production",
        TESTING = sys::APH_LOG_PRESET_TESTING => "testing",
    }
);

open_enum!(
    /// Trace event severity, ascending (the numbers [`LogLevel`] gives the same names).
    TraceLevel, "aph_trace_level" {
        DEBUG = sys::APH_TRACE_DEBUG => "debug",
        INFO = sys::APH_TRACE_INFO => "info",
        WARN = sys::APH_TRACE_WARN => "warn",
        ERROR = sys::APH_TRACE_ERROR => "error",
    }
);

open_enum!(
    /// Elementwise binary operations.
    BinaryOp, "aph_binary_op" {
        ADD = sys::APH_BINARY_ADD => "add",
        SUB = sys::APH_BINARY_SUB => "sub",
        MUL = sys::APH_BINARY_MUL => "mul",
        DIV = sys::APH_BINARY_DIV => "div",
        MAXIMUM = sys::APH_BINARY_MAXIMUM => "maximum",
        MINIMUM = sys::APH_BINARY_MINIMUM => "minimum",
    }
);

open_enum!(
    /// Elementwise unary operations.
    UnaryOp, "aph_unary_op" {
        RELU = sys::APH_UNARY_RELU => "relu",
        GELU = sys::APH_UNARY_GELU => "gelu",
        GELU_TANH = sys::APH_UNARY_GELU_TANH => "gelu_tanh",
        SILU = sys::APH_UNARY_SILU => "silu",
        TANH = sys::APH_UNARY_TANH => "tanh",
        SIGMOID = sys::APH_UNARY_SIGMOID => "sigmoid",
        EXP = sys::APH_UNARY_EXP => "exp",
        LOG = sys::APH_UNARY_LOG => "log",
        NEG = sys::APH_UNARY_NEG => "neg",
        SQRT = sys::APH_UNARY_SQRT => "sqrt",
        RSQRT = sys::APH_UNARY_RSQRT => "rsqrt",
        ABS = sys::APH_UNARY_ABS => "abs",
    }
);

open_enum!(
    /// Activations of the fused bias + activation.
    Activation, "aph_activation" {
        NONE = sys::APH_ACTIVATION_NONE => "none",
        RELU = sys::APH_ACTIVATION_RELU => "relu",
        GELU = sys::APH_ACTIVATION_GELU => "gelu",
        GELU_TANH = sys::APH_ACTIVATION_GELU_TANH => "gelu_tanh",
        SILU = sys::APH_ACTIVATION_SILU => "silu",
        TANH = sys::APH_ACTIVATION_TANH => "tanh",
    }
);

open_enum!(
    /// Reductions.
    ReduceOp, "aph_reduce_op" {
        SUM = sys::APH_REDUCE_SUM => "sum",
        MEAN = sys::APH_REDUCE_MEAN => "mean",
        MAX = sys::APH_REDUCE_MAX => "max",
    }
);

open_enum!(
    /// Rotary embedding layouts.
    RopeLayout, "aph_rope_layout" {
        INTERLEAVED = sys::APH_ROPE_INTERLEAVED => "interleaved",
        HALF = sys::APH_ROPE_HALF => "half",
    }
);

open_enum!(
    /// Quantization schemes.
    QuantScheme, "aph_quant_scheme" {
        INT8 = sys::APH_QUANT_INT8 => "int8",
        FP8_E4M3 = sys::APH_QUANT_FP8_E4M3 => "fp8_e4m3",
        FP8_E5M2 = sys::APH_QUANT_FP8_E5M2 => "fp8_e5m2",
        NF4 = sys::APH_QUANT_NF4 => "nf4",
        TERNARY = sys::APH_QUANT_TERNARY => "ternary",
    }
);

open_enum!(
    /// What a node of an operation is.
    NodeKind, "aph_node_kind" {
        INPUT = sys::APH_NODE_INPUT => "input",
        WEIGHT = sys::APH_NODE_WEIGHT => "weight",
        CONSTANT = sys::APH_NODE_CONSTANT => "constant",
        OUTPUT = sys::APH_NODE_OUTPUT => "output",
        VIEW = sys::APH_NODE_VIEW => "view",
        COMPUTE = sys::APH_NODE_COMPUTE => "compute",
    }
);

open_enum!(
    /// The type of an operation's param.
    ParamType, "aph_param_type" {
        INT = sys::APH_PARAM_INT => "int",
        FLOAT = sys::APH_PARAM_FLOAT => "float",
        BOOL = sys::APH_PARAM_BOOL => "bool",
        STRING = sys::APH_PARAM_STRING => "string",
        INT_LIST = sys::APH_PARAM_INT_LIST => "int list",
        DTYPE = sys::APH_PARAM_DTYPE => "dtype",
        NUMBERS = sys::APH_PARAM_NUMBERS => "number or list",
        SYMBOLIC_SHAPE = sys::APH_PARAM_SYMBOLIC_SHAPE => "symbolic shape",
    }
);

open_enum!(
    /// Truncation of [`crate::Tokenizer::encode`].
    Truncation, "aph_truncation" {
        FROM_FILE = sys::APH_TRUNCATION_FROM_FILE => "from_file",
        NONE = sys::APH_TRUNCATION_NONE => "none",
        MAX_LENGTH = sys::APH_TRUNCATION_MAX_LENGTH => "max_length",
    }
);

open_enum!(
    /// Padding of [`crate::Tokenizer::encode`].
    Padding, "aph_padding" {
        FROM_FILE = sys::APH_PADDING_FROM_FILE => "from_file",
        LONGEST = sys::APH_PADDING_LONGEST => "longest",
        FIXED = sys::APH_PADDING_FIXED => "fixed",
    }
);

/// An IEEE half-precision value, as its bits (Rust has no `f16` on stable).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct F16(pub u16);

/// A bfloat16 value, as its bits.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BF16(pub u16);

impl BF16 {
    /// The upper half of an f32's bits (rounded to nearest even; NaN stays NaN).
    pub fn from_f32(x: f32) -> BF16 {
        let b = x.to_bits();
        if x.is_nan() {
            return BF16(((b >> 16) as u16) | 0x40);
        }
        let round = 0x7fff + ((b >> 16) & 1);
        BF16((b.wrapping_add(round) >> 16) as u16)
    }
    pub fn to_f32(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }
}

impl F16 {
    /// Widens to f32 exactly.
    pub fn to_f32(self) -> f32 {
        let h = self.0 as u32;
        let sign = (h & 0x8000) << 16;
        let exp = (h >> 10) & 0x1f;
        let man = h & 0x3ff;
        let bits = match (exp, man) {
            (0, 0) => sign,
            (0, m) => {
                // subnormal: m * 2^-24
                let v = m as f32 * f32::from_bits(0x3380_0000);
                return if sign != 0 { -v } else { v };
            }
            (0x1f, 0) => sign | 0x7f80_0000,
            (0x1f, m) => sign | 0x7fc0_0000 | (m << 13),
            (e, m) => sign | ((e + 112) << 23) | (m << 13),
        };
        f32::from_bits(bits)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust type whose values are a dtype's elements, bit for bit (`f32`, `f64`, `i8` ... `i64`,
/// `u8`, `u32`, `bool`, and the half types as [`F16`] / [`BF16`]). Sealed.
///
/// # Safety
/// `Self` has the size and representation of `DTYPE`'s elements.
pub unsafe trait Element: Copy + Send + Sync + 'static + sealed::Sealed {
    const DTYPE: DType;
}

macro_rules! element {
    ($($t:ty => $d:ident),*) => {$(
        impl sealed::Sealed for $t {}
        unsafe impl Element for $t { const DTYPE: DType = DType::$d; }
    )*};
}
element!(f32 => F32, f64 => F64, i8 => I8, i16 => I16, i32 => I32, i64 => I64, u8 => U8,
         u32 => U32, bool => BOOL, F16 => F16, BF16 => BF16);
