// Every failing aph_status becomes an AphelionException: one subclass per status code. Hand-written.
using System;

namespace Aphelion
{
    /// <summary>A failing call into libaphelion: the status code (Status, and its enum name
    /// StatusName) and the library's message (Message, from aph_last_error on the calling
    /// thread). Catch a subclass (NotFoundException, ShapeMismatchException, ...) for one code; a
    /// status this binding does not know yet (a newer library) is this base class.</summary>
    public class AphelionException : Exception
    {
        /// <summary>The status code (may be a value the Status enum has no name for).</summary>
        public Status Status { get; private set; }
        /// <summary>The C enum name of Status ("APH_ERR_NOT_FOUND").</summary>
        public string StatusName { get; private set; }

        public AphelionException(Status status, string message) : base(message)
        {
            Status = status;
            StatusName = Library.StatusName(status);
        }

        /// <summary>The exception for a failing status: its subclass, or this class for an unknown one.</summary>
        public static AphelionException Create(Status status, string message)
        {
            switch (status)
            {
                case Status.InvalidArgument: return new InvalidArgumentException(message);
                case Status.InvalidConfig: return new InvalidConfigException(message);
                case Status.ShapeMismatch: return new ShapeMismatchException(message);
                case Status.DimensionMismatch: return new DimensionMismatchException(message);
                case Status.DeviceNotAvailable: return new DeviceNotAvailableException(message);
                case Status.DeviceMismatch: return new DeviceMismatchException(message);
                case Status.OutOfMemory: return new AphelionOutOfMemoryException(message);
                case Status.Kernel: return new KernelException(message);
                case Status.NotImplemented: return new AphelionNotImplementedException(message);
                case Status.Io: return new IoException(message);
                case Status.Backend: return new BackendException(message);
                case Status.Graph: return new GraphException(message);
                case Status.Validation: return new ValidationException(message);
                case Status.Serialization: return new SerializationException(message);
                case Status.Build: return new BuildException(message);
                case Status.Internal: return new InternalException(message);
                case Status.NotFound: return new NotFoundException(message);
                case Status.InvalidState: return new InvalidStateException(message);
                default: return new AphelionException(status, message);
            }
        }
    }

    /// <summary>APH_ERR_INVALID_ARGUMENT.</summary>
    public class InvalidArgumentException : AphelionException { public InvalidArgumentException(string m) : base(Status.InvalidArgument, m) { } }
    /// <summary>APH_ERR_INVALID_CONFIG.</summary>
    public class InvalidConfigException : AphelionException { public InvalidConfigException(string m) : base(Status.InvalidConfig, m) { } }
    /// <summary>APH_ERR_SHAPE_MISMATCH.</summary>
    public class ShapeMismatchException : AphelionException { public ShapeMismatchException(string m) : base(Status.ShapeMismatch, m) { } }
    /// <summary>APH_ERR_DIMENSION_MISMATCH.</summary>
    public class DimensionMismatchException : AphelionException { public DimensionMismatchException(string m) : base(Status.DimensionMismatch, m) { } }
    /// <summary>APH_ERR_DEVICE_NOT_AVAILABLE.</summary>
    public class DeviceNotAvailableException : AphelionException { public DeviceNotAvailableException(string m) : base(Status.DeviceNotAvailable, m) { } }
    /// <summary>APH_ERR_DEVICE_MISMATCH.</summary>
    public class DeviceMismatchException : AphelionException { public DeviceMismatchException(string m) : base(Status.DeviceMismatch, m) { } }
    /// <summary>APH_ERR_OUT_OF_MEMORY (named so that it does not clash with System.OutOfMemoryException).</summary>
    public class AphelionOutOfMemoryException : AphelionException { public AphelionOutOfMemoryException(string m) : base(Status.OutOfMemory, m) { } }
    /// <summary>APH_ERR_KERNEL.</summary>
    public class KernelException : AphelionException { public KernelException(string m) : base(Status.Kernel, m) { } }
    /// <summary>APH_ERR_NOT_IMPLEMENTED (named so that it does not clash with System.NotImplementedException).</summary>
    public class AphelionNotImplementedException : AphelionException { public AphelionNotImplementedException(string m) : base(Status.NotImplemented, m) { } }
    /// <summary>APH_ERR_IO.</summary>
    public class IoException : AphelionException { public IoException(string m) : base(Status.Io, m) { } }
    /// <summary>APH_ERR_BACKEND.</summary>
    public class BackendException : AphelionException { public BackendException(string m) : base(Status.Backend, m) { } }
    /// <summary>APH_ERR_GRAPH.</summary>
    public class GraphException : AphelionException { public GraphException(string m) : base(Status.Graph, m) { } }
    /// <summary>APH_ERR_VALIDATION.</summary>
    public class ValidationException : AphelionException { public ValidationException(string m) : base(Status.Validation, m) { } }
    /// <summary>APH_ERR_SERIALIZATION.</summary>
    public class SerializationException : AphelionException { public SerializationException(string m) : base(Status.Serialization, m) { } }
    /// <summary>APH_ERR_BUILD.</summary>
    public class BuildException : AphelionException { public BuildException(string m) : base(Status.Build, m) { } }
    /// <summary>APH_ERR_INTERNAL.</summary>
    public class InternalException : AphelionException { public InternalException(string m) : base(Status.Internal, m) { } }
    /// <summary>APH_ERR_NOT_FOUND.</summary>
    public class NotFoundException : AphelionException { public NotFoundException(string m) : base(Status.NotFound, m) { } }
    /// <summary>APH_ERR_INVALID_STATE.</summary>
    public class InvalidStateException : AphelionException { public InvalidStateException(string m) : base(Status.InvalidState, m) { } }
}
