// The executor (header section 20): analysis, planning, allocation and runs.
#include "executor.hpp"

#include "../core/device.hpp"
#include "../core/dtype.hpp"
#include "../core/memory.hpp"
#include "../core/stream.hpp"
#include "../core/tensor.hpp"
#include "../core/tracker.hpp"
#include "../graph/serde_json.hpp"
#include "../graph/trace.hpp"
#include "../kernels/parallel.hpp"
#include "../ops/op.hpp"
#include "../ops/ops.hpp"
#include "safetensors.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>

namespace aph::exec {

std::string node_label(const Step& s) {
    return strprintf("node %llu '%s' (%s)", static_cast<unsigned long long>(s.id), s.name.c_str(), s.op.c_str());
}

// ---------------------------------------------------------------------------------------------
// Analysis
// ---------------------------------------------------------------------------------------------

namespace {

ValueInfo infer_custom(const Step& s, const std::vector<const ValueInfo*>& in) {
    std::vector<aph_dtype> dts;
    std::vector<const int64_t*> shapes;
    std::vector<size_t> ndims;
    for (const ValueInfo* v : in) {
        dts.push_back(v->dtype);
        shapes.push_back(v->shape.data());
        ndims.push_back(v->shape.size());
    }
    aph_dtype odt = APH_DTYPE_INVALID;
    int64_t oshape[APH_TENSOR_MAX_DIMS] = {};
    constexpr size_t capacity = APH_TENSOR_MAX_DIMS;
    size_t ondim = SIZE_MAX;
    const aph_custom_op& op = s.custom->op;
    invoke_callback_checked(
        [&] {
            return op.infer(op.user_data, s.params_json.c_str(), in.size(), dts.data(), shapes.data(), ndims.data(),
                            &odt, oshape, capacity, &ondim);
        },
        [&] { return "custom operation '" + s.op + "' inference"; });
    if (ondim == SIZE_MAX || !dtype::valid(odt))
        throw Error::kind(APH_ERR_GRAPH, "custom operation '" + s.op +
                                             "' inference returned no valid dtype and shape (set out_dtype and out_ndim)");
    if (ondim > capacity)
        throw Error::kind(APH_ERR_GRAPH, strprintf("custom operation '%s' inference returned %zu dimensions, more than "
                                                   "the %zu out_shape has room for",
                                                   s.op.c_str(), ondim, capacity));
    ValueInfo v;
    v.dtype = odt;
    v.shape.assign(oshape, oshape + ondim);
    for (int64_t d : v.shape)
        if (d < 0)
            throw Error::kind(APH_ERR_GRAPH, "custom operation '" + s.op + "' inferred the shape " +
                                                 memory::format_shape(v.shape.data(), v.shape.size()) +
                                                 " with a negative dimension");
    return contiguous_value(v.dtype, std::move(v.shape));
}

// cuda: inference for a CUDA device (f64 is refused there).
std::vector<Step> analyse(const graph::Graph& g, bool cuda) {
    const uint64_t n = g.nodes.size();
    for (const auto& [from, to] : g.edges) {
        const uint64_t bad = (from < 1 || from > n) ? from : (to < 1 || to > n) ? to : 0;
        if (bad != 0)
            throw Error::kind(APH_ERR_GRAPH, strprintf("edge (%llu, %llu) names node %llu, but the graph has %llu nodes",
                                                       static_cast<unsigned long long>(from),
                                                       static_cast<unsigned long long>(to),
                                                       static_cast<unsigned long long>(bad),
                                                       static_cast<unsigned long long>(n)));
    }
    if (g.has_cycle()) throw Error::kind(APH_ERR_GRAPH, "the graph has a cycle, so it cannot be executed");
    const std::vector<uint64_t> order = g.topological_sort();

    std::vector<size_t> pos(n + 1, 0);
    std::vector<Step> steps(order.size());
    for (size_t i = 0; i < order.size(); ++i) {
        pos[order[i]] = i;
        const graph::Node& node = g.nodes[order[i] - 1];
        Step& s = steps[i];
        s.id = node.id;
        s.name = node.name;
        s.op = node.config.name;
        s.params = node.config.params.is_object() ? node.config.params : Json::object();
        s.base = i;
    }
    for (const auto& [from, to] : g.edges) steps[pos[to]].operands.push_back(pos[from]);

    std::map<std::string, uint64_t> bind_names;
    for (size_t i = 0; i < steps.size(); ++i) {
        Step& s = steps[i];
        with_node(s, [&] {
            s.builtin = find_builtin(s.op);
            size_t lo = 0, hi = 0;
            if (s.builtin != nullptr) {
                s.kind = builtin_kind(s.builtin);
                lo = builtin_min_operands(s.builtin);
                hi = builtin_max_operands(s.builtin);
            } else {
                s.custom = find_custom(s.op);
                if (!s.custom)
                    throw Error::kind(APH_ERR_GRAPH, "unknown operation '" + s.op +
                                                         "' (neither built in nor registered with aph_custom_op_register)");
                s.kind = Kind::Compute;
                lo = 0;
                hi = SIZE_MAX;
                s.params_json = graph::serde_compact(s.params);
            }
            if (s.operands.size() < lo || s.operands.size() > hi) {
                if (lo == hi)
                    throw Error::kind(APH_ERR_GRAPH, strprintf("takes %zu operand%s, got %zu", lo, lo == 1 ? "" : "s",
                                                               s.operands.size()));
                throw Error::kind(APH_ERR_GRAPH, strprintf("takes %zu to %zu operands, got %zu", lo, hi, s.operands.size()));
            }
            if (s.kind == Kind::Input || s.kind == Kind::Weight || s.kind == Kind::Output) {
                auto [it, fresh] = bind_names.emplace(s.name, s.id);
                if (!fresh)
                    throw Error::kind(APH_ERR_GRAPH, strprintf("the name is already used by node %llu; input, weight "
                                                               "and output nodes need distinct names",
                                                               static_cast<unsigned long long>(it->second)));
            }
            std::vector<const ValueInfo*> in;
            for (size_t op : s.operands) in.push_back(&steps[op].info);
            s.info = s.custom ? infer_custom(s, in) : infer_builtin(s, in, cuda);
            if (s.kind == Kind::View || s.kind == Kind::Output) s.base = steps[s.operands[0]].base;
        });
    }
    return steps;
}

}  // namespace

void check_graph(const graph::Graph& graph) { (void)analyse(graph, false); }

// ---------------------------------------------------------------------------------------------
// Making an executor
// ---------------------------------------------------------------------------------------------

aph_executor* make_executor(const graph::Graph& graph, aph_device* device, const aph_executor_options* options) {
    aph_executor_options opt{};
    if (options != nullptr) {
        if (options->struct_size < offsetof(aph_executor_options, tracker) + sizeof(void*))
            throw invalid_argument("options->struct_size is too small (set it to sizeof(aph_executor_options))");
        std::memcpy(&opt, options, std::min(options->struct_size, sizeof opt));
    }
    if (opt.stream != nullptr && opt.stream->device != device)
        throw device_mismatch("the executor's stream belongs to another device");
    if (opt.cpu_threads > kernels::kMaxCpuThreads)
        throw invalid_argument(strprintf("options->cpu_threads is %zu; at most %u", opt.cpu_threads,
                                         kernels::kMaxCpuThreads));

    std::vector<Step> steps = analyse(graph, device->kind == APH_DEVICE_CUDA);
    for (Step& s : steps) {
        if (s.kind != Kind::Output) continue;
        Step& base = steps[s.base];
        if (base.kind == Kind::Compute) base.own_memory = true;
    }
    for (Step& s : steps) s.planned = s.kind == Kind::Compute && !s.own_memory;
    PlanInfo plan = plan_memory(steps);
    if (opt.tracker != nullptr) {
        plan.budget_bytes = opt.tracker->limit();
        const uint64_t current = opt.tracker->allocated();
        if (plan.budget_bytes > 0 && (plan.total_bytes > plan.budget_bytes || current > plan.budget_bytes - plan.total_bytes))
            throw out_of_memory(strprintf("the memory plan needs %llu bytes at its peak, over the budget of %llu bytes "
                                          "(%llu bytes already tracked)",
                                          static_cast<unsigned long long>(plan.total_bytes),
                                          static_cast<unsigned long long>(plan.budget_bytes),
                                          static_cast<unsigned long long>(current)));
    }

    auto ex = std::make_unique<aph_executor>();
    device::retain(device);
    ex->device = device;
    if (opt.stream != nullptr) {
        aph_stream_retain(opt.stream);
        ex->stream = opt.stream;
    }
    if (opt.tracker != nullptr) {
        opt.tracker->refs.retain();
        ex->tracker = opt.tracker;
    }
    if (opt.trace != nullptr) {
        opt.trace->refs.retain();
        ex->trace = opt.trace;
    }
    ex->check_numerics = opt.check_numerics != 0;
    ex->profile = opt.profile != 0;
    ex->cpu_threads = static_cast<unsigned>(opt.cpu_threads);
    ex->steps = std::move(steps);
    ex->plan = plan;
    for (size_t i = 0; i < ex->steps.size(); ++i) {
        Step& s = ex->steps[i];
        s.dim_names.assign(s.info.shape.size(), nullptr);
        if (s.kind == Kind::Input) ex->inputs.push_back(i);
        if (s.kind == Kind::Weight) ex->weights.push_back(i);
        if (s.kind == Kind::Output) ex->outputs.push_back(i);
    }
    for (std::vector<size_t>* list : {&ex->inputs, &ex->weights, &ex->outputs})  // graph order
        std::sort(list->begin(), list->end(), [&](size_t a, size_t b) { return ex->steps[a].id < ex->steps[b].id; });
    ex->input_copies.assign(ex->steps.size(), nullptr);
    return ex.release();
}

// ---------------------------------------------------------------------------------------------
// Binding
// ---------------------------------------------------------------------------------------------

namespace {

void check_binding(const Step& s, const aph_tensor* t, const char* what) {
    if (t->dtype != s.info.dtype)
        throw invalid_argument(strprintf("%s '%s' (node %llu) has dtype %s, the tensor %s", what, s.name.c_str(),
                                         static_cast<unsigned long long>(s.id), dtype::name(s.info.dtype),
                                         dtype::name(t->dtype)));
    if (t->shape != s.info.shape)
        throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                          strprintf("%s '%s' (node %llu): expected %s, got %s", what, s.name.c_str(),
                                    static_cast<unsigned long long>(s.id),
                                    memory::format_shape(s.info.shape.data(), s.info.shape.size()).c_str(),
                                    memory::format_shape(t->shape.data(), t->shape.size()).c_str()));
}

void replace(aph_tensor*& slot, aph_tensor* t) {
    if (slot == t) {
        if (t != nullptr) tensor::release(t);  // the caller's new reference
        return;
    }
    if (slot != nullptr) tensor::release(slot);
    slot = t;
}

}  // namespace

void set_input(aph_executor& ex, const std::string& name, aph_tensor* t, bool weight) {
    const char* what = weight ? "weight" : "input";
    Step* s = ex.find(name);
    if (s == nullptr || s->kind != (weight ? Kind::Weight : Kind::Input))
        throw Error::kind(APH_ERR_NOT_FOUND, strprintf("the graph has no %s node named '%s'", what, name.c_str()));
    check_binding(*s, t, what);
    if (weight && (t->device() != ex.device || !tensor::is_contiguous(*t))) {
        // Weights are copied once, here: to the executor's device, contiguous (as inference
        // assumed).
        replace(s->bound, tensor::to_device(t, ex.device));
    } else {
        tensor::retain(t);
        replace(s->bound, t);
    }
}

namespace {
bool aliases_executor_memory(const aph_executor& ex, const aph_tensor* t);
}  // namespace

void bind_output(aph_executor& ex, const std::string& name, aph_tensor* t) {
    Step* s = ex.find(name);
    if (s == nullptr || s->kind != Kind::Output)
        throw Error::kind(APH_ERR_NOT_FOUND, strprintf("the graph has no output node named '%s'", name.c_str()));
    if (t == nullptr) {
        replace(s->bound, nullptr);
        return;
    }
    check_binding(*s, t, "output");
    if (t->device() != ex.device)
        throw device_mismatch(strprintf("output '%s' is computed on %s, the tensor bound to it is on %s", name.c_str(),
                                        device::label(ex.device->kind, ex.device->ordinal).c_str(),
                                        device::label(t->device()->kind, t->device()->ordinal).c_str()));
    if (t->read_only)
        throw invalid_argument(strprintf("the tensor bound to output '%s' is read-only (memory-mapped weights or a "
                                         "read-only DLPack import); bind a writable tensor",
                                         name.c_str()));
    for (size_t i = 0; i < t->shape.size(); ++i)
        if (t->strides[i] == 0 && t->shape[i] > 1)
            throw invalid_argument(strprintf("the tensor bound to output '%s' has a broadcast dimension (dim %zu: size "
                                             "%lld, stride 0); bind a tensor without one",
                                             name.c_str(), i, static_cast<long long>(t->shape[i])));
    for (size_t o : ex.outputs) {
        const Step& other = ex.steps[o];
        if (&other != s && other.bound != nullptr && other.bound->storage == t->storage)
            throw invalid_argument(strprintf("the tensor bound to output '%s' shares memory with the tensor bound to "
                                             "output '%s'; bind separate tensors",
                                             name.c_str(), other.name.c_str()));
    }
    if (aliases_executor_memory(ex, t))
        throw invalid_argument(strprintf("the tensor bound to output '%s' is memory of this executor (an output of "
                                         "an earlier run), which runs overwrite; bind a tensor of your own",
                                         name.c_str()));
    tensor::retain(t);
    replace(s->bound, t);
}

void load_weights(aph_executor& ex, const std::string& path) {
    std::shared_ptr<SafetensorsFile> file = SafetensorsFile::open(path);
    // Check every weight before binding any.
    std::vector<std::pair<Step*, const TensorInfo*>> found;
    for (Step& s : ex.steps) {
        if (s.kind != Kind::Weight) continue;
        const std::string key = weight_key(s);
        const TensorInfo* ti = file->find(key);
        if (ti == nullptr)
            throw Error::kind(APH_ERR_NOT_FOUND, strprintf("%s: no tensor '%s' for weight node %llu '%s'",
                                                               path.c_str(), key.c_str(),
                                                               static_cast<unsigned long long>(s.id), s.name.c_str()));
        if (ti->dtype != s.info.dtype || ti->shape != s.info.shape)
            throw Error::kind(APH_ERR_SERIALIZATION,
                              strprintf("%s: tensor '%s' is %s %s, but weight node %llu '%s' is %s %s", path.c_str(),
                                        key.c_str(), dtype::name(ti->dtype),
                                        memory::format_shape(ti->shape.data(), ti->shape.size()).c_str(),
                                        static_cast<unsigned long long>(s.id), s.name.c_str(),
                                        dtype::name(s.info.dtype),
                                        memory::format_shape(s.info.shape.data(), s.info.shape.size()).c_str()));
        found.emplace_back(&s, ti);
    }
    std::vector<aph_tensor*> made;
    made.reserve(found.size());  // so push_back cannot fail and lose the tensor just made
    try {
        for (auto& [s, ti] : found) made.push_back(file->tensor(*ti, ex.device));
    } catch (...) {
        for (aph_tensor* t : made) tensor::release(t);
        throw;
    }
    for (size_t i = 0; i < found.size(); ++i) replace(found[i].first->bound, made[i]);
}

// ---------------------------------------------------------------------------------------------
// Allocation
// ---------------------------------------------------------------------------------------------

void free_memory(aph_executor& ex) noexcept {
    for (Step& s : ex.steps) {
        if (s.tensor != nullptr) tensor::release(s.tensor);
        if (s.own != nullptr) tensor::release(s.own);
        s.tensor = s.own = nullptr;
        s.direct = false;
    }
    for (aph_tensor*& t : ex.input_copies) {
        if (t != nullptr) tensor::release(t);
        t = nullptr;
    }
    if (ex.arena != nullptr) tensor::release(ex.arena);
    ex.arena = nullptr;
    if (ex.tracker != nullptr && ex.charged > 0) {
        try {
            ex.tracker->deallocate(ex.charged);
        } catch (...) {
        }
    }
    ex.charged = 0;
    ex.allocated = false;
}

namespace {

// True when t's memory is memory this executor writes (its arena, or an output value's own).
bool aliases_executor_memory(const aph_executor& ex, const aph_tensor* t) {
    if (ex.arena != nullptr && t->storage == ex.arena->storage) return true;
    for (const Step& s : ex.steps)
        if (s.own != nullptr && s.own->storage == t->storage) return true;
    return false;
}

aph_stream* work_stream(const aph_executor& ex) {
    return ex.stream != nullptr ? ex.stream : ex.device->default_stream;
}

// Fills constant s's tensor from its params (through a CPU tensor: f64 for floats, i64 for
// integers, cast to the dtype once).
void fill_constant(aph_executor& ex, Step& s) {
    const Json& val = constant_value(s);
    const int64_t n = static_cast<int64_t>(s.info.nbytes / dtype::size(s.info.dtype));
    const bool integral = s.info.dtype == APH_DTYPE_I32 || s.info.dtype == APH_DTYPE_I64;
    std::vector<double> f;
    std::vector<int64_t> iv;
    auto at = [&](int64_t i) -> const Json& { return val.is_array() ? val[static_cast<size_t>(i)] : val; };
    for (int64_t i = 0; i < n; ++i) {
        const Json& e = at(i);
        if (integral) {
            iv.push_back(e.get<int64_t>());  // inference checked it is an integer in range
        } else {
            f.push_back(e.get<double>());
        }
    }
    aph_device* cpu = device::open(APH_DEVICE_CPU, 0);
    aph_tensor *src = nullptr, *tmp = nullptr;
    try {
        src = integral ? tensor::from_blob(cpu, APH_DTYPE_I64, s.info.shape.data(), nullptr, s.info.shape.size(),
                                           iv.data(), nullptr, nullptr, true)
                       : tensor::from_blob(cpu, APH_DTYPE_F64, s.info.shape.data(), nullptr, s.info.shape.size(),
                                           f.data(), nullptr, nullptr, true);
        if (ex.device == cpu) {
            ops::cast(nullptr, src, s.tensor);
        } else {
            tmp = tensor::create(cpu, nullptr, s.info.dtype, s.info.shape.data(), s.info.shape.size());
            ops::cast(nullptr, src, tmp);
            tensor::copy(s.tensor, tmp, work_stream(ex), true);
        }
    } catch (...) {
        tensor::release(tmp);
        tensor::release(src);
        device::release(cpu);
        throw;
    }
    tensor::release(tmp);
    tensor::release(src);
    device::release(cpu);
}

void allocate(aph_executor& ex) {
    if (ex.tracker != nullptr && ex.plan.total_bytes > 0) {
        ex.tracker->allocate(ex.plan.total_bytes);
        ex.charged = ex.plan.total_bytes;
    }
    try {
        aph_stream* stream = ex.stream;
        if (ex.plan.arena_bytes > 0) {
            const int64_t n = static_cast<int64_t>(ex.plan.arena_bytes);
            ex.arena = tensor::create(ex.device, stream, APH_DTYPE_U8, &n, 1);
        }
        for (Step& s : ex.steps) {
            if (s.planned && s.info.nbytes > 0) {
                ex.arena->storage->refs.retain();
                try {
                    s.tensor = tensor::make_view(ex.arena->storage, s.info.dtype, s.info.shape, s.info.strides,
                                                 ex.arena->offset + s.offset, false);
                } catch (...) {
                    tensor::storage_release(ex.arena->storage);  // make_view took nothing over
                    throw;
                }
            } else if (s.planned || s.own_memory || s.kind == Kind::Constant) {
                s.tensor = tensor::create(ex.device, stream, s.info.dtype, s.info.shape.data(), s.info.shape.size());
                if (s.kind == Kind::Constant) fill_constant(ex, s);
                if (s.own_memory) {
                    tensor::retain(s.tensor);
                    s.own = s.tensor;
                }
            }
        }
    } catch (...) {
        free_memory(ex);
        throw;
    }
    ex.allocated = true;
}

// Counts NaN and Inf in t (read back to the host).
void count_nonfinite(const aph_tensor* t, aph_stream* stream, uint64_t* nan, uint64_t* inf) {
    *nan = *inf = 0;
    if (t->numel == 0 || !dtype::is_floating_point(t->dtype)) return;
    std::vector<unsigned char> host(t->nbytes());
    tensor::to_host(t, host.data(), host.size(), stream, true);
    const size_t n = static_cast<size_t>(t->numel);
    auto bits16 = [&](size_t i) {
        uint16_t b;
        std::memcpy(&b, &host[2 * i], 2);
        return b;
    };
    for (size_t i = 0; i < n; ++i) {
        switch (t->dtype) {
            case APH_DTYPE_F64: {
                double v;
                std::memcpy(&v, &host[8 * i], 8);
                *nan += std::isnan(v);
                *inf += std::isinf(v);
                break;
            }
            case APH_DTYPE_F32: {
                float v;
                std::memcpy(&v, &host[4 * i], 4);
                *nan += std::isnan(v);
                *inf += std::isinf(v);
                break;
            }
            case APH_DTYPE_F16: {
                const uint16_t b = bits16(i);
                if ((b & 0x7C00u) == 0x7C00u) ((b & 0x03FFu) ? *nan : *inf) += 1;
                break;
            }
            case APH_DTYPE_BF16: {
                const uint16_t b = bits16(i);
                if ((b & 0x7F80u) == 0x7F80u) ((b & 0x007Fu) ? *nan : *inf) += 1;
                break;
            }
            case APH_DTYPE_F8E4M3: *nan += (host[i] & 0x7Fu) == 0x7Fu; break;
            case APH_DTYPE_F8E5M2:
                if ((host[i] & 0x7Cu) == 0x7Cu) ((host[i] & 0x03u) ? *nan : *inf) += 1;
                break;
            default: return;
        }
    }
}

void run_custom(aph_executor& ex, const Step& s, const std::vector<aph_tensor*>& in, aph_tensor* out) {
    const aph_custom_op& op = s.custom->op;
    std::vector<const aph_tensor*> cin(in.begin(), in.end());
    auto what = [&] { return "custom operation '" + s.op + "'"; };
    if (ex.device->kind == APH_DEVICE_CUDA) {
        if (op.cuda == nullptr)
            throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "custom operation '" + s.op + "' has no CUDA implementation");
        aph_stream* stream = work_stream(ex);
        invoke_callback_checked(
            [&] { return op.cuda(op.user_data, s.params_json.c_str(), stream, cin.size(), cin.data(), out); }, what);
        // The callback queued work on the stream that uses its operands: borrowed memory among
        // them must not go back to its owner before that work is done.
        for (const aph_tensor* t : cin) tensor::record_borrowed_use(t, stream);
        tensor::record_borrowed_use(out, stream);
    } else if (ex.device->kind == APH_DEVICE_CPU) {
        ops::cpu_dispatch_warning();
        invoke_callback_checked([&] { return op.cpu(op.user_data, s.params_json.c_str(), cin.size(), cin.data(), out); },
                                what);
    } else {
        throw device_not_available(device::label(ex.device->kind, ex.device->ordinal));
    }
}

// Where this run writes the outputs bound to caller's tensors. An output that reads a computed
// value of its own memory directly (not through a view), which no other output reads, bound to
// a contiguous tensor that shares no memory with a bound input or weight, is computed straight
// into that tensor (no copy); every other bound output is copied into its tensor after the last
// step (finish_outputs), so a bound tensor may also be an input of the run (a state updated in
// place): every step has read the inputs by then. (A value other outputs read stays in the
// executor's memory, which is what those outputs give when unbound.)
void route_outputs(aph_executor& ex) {
    for (Step& s : ex.steps) {
        if (s.own == nullptr || s.tensor == s.own) continue;
        tensor::retain(s.own);
        replace(s.tensor, s.own);
    }
    for (size_t o : ex.outputs) {
        Step& s = ex.steps[o];
        s.direct = false;
        if (s.bound == nullptr || s.operands[0] != s.base) continue;
        Step& base = ex.steps[s.base];
        if (base.own == nullptr || !tensor::is_contiguous(*s.bound)) continue;
        bool shared = false;
        for (size_t other : ex.outputs) shared = shared || (other != o && ex.steps[other].base == s.base);
        for (const std::vector<size_t>* list : {&ex.inputs, &ex.weights})
            for (size_t i : *list) {
                const aph_tensor* b = ex.steps[i].bound;
                shared = shared || (b != nullptr && b->storage == s.bound->storage);
            }
        if (shared) continue;
        tensor::retain(s.bound);
        replace(base.tensor, s.bound);
        s.direct = true;
    }
}

// Copies the bound outputs route_outputs did not place into their tensors (queued on the
// executor's stream) and records the stream's use of every bound tensor. Afterwards each bound
// output step's tensor is its bound tensor: aph_executor_output gives where the run wrote.
void finish_outputs(aph_executor& ex) {
    for (size_t o : ex.outputs) {
        Step& s = ex.steps[o];
        if (s.bound == nullptr) continue;
        if (!s.direct) with_node(s, [&] { tensor::copy(s.bound, s.tensor, ex.stream, false); });
        if (ex.device->kind == APH_DEVICE_CUDA) tensor::record_stream(s.bound, work_stream(ex));
        tensor::retain(s.bound);
        replace(s.tensor, s.bound);
    }
}

void synchronize(aph_executor& ex) {
    if (ex.device->kind != APH_DEVICE_CUDA) return;
    if (aph_stream_synchronize(work_stream(ex)) != APH_OK) throw Error::raw(APH_ERR_KERNEL, aph_last_error());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

void run(aph_executor& ex) {
    for (const Step& s : ex.steps)
        if ((s.kind == Kind::Input || s.kind == Kind::Weight) && s.bound == nullptr)
            throw Error::kind(APH_ERR_INVALID_STATE,
                              strprintf("%s node %llu '%s' is not bound (%s)", s.kind == Kind::Input ? "input" : "weight",
                                        static_cast<unsigned long long>(s.id), s.name.c_str(),
                                        s.kind == Kind::Input ? "aph_executor_set_input"
                                                              : "aph_executor_set_weight or aph_executor_load_weights"));
    // The executor's thread count for the CPU kernels of this run (0 keeps the caller's).
    const kernels::ThreadLimitScope threads(ex.cpu_threads);
    if (!ex.allocated) allocate(ex);
    ex.ran = false;
    route_outputs(ex);
    const std::string dev = device::label(ex.device->kind, ex.device->ordinal);
    const bool timed = ex.profile || ex.trace != nullptr;
    const uint64_t run_start = timed ? trace::now_ns() : 0;
    const auto run_t0 = std::chrono::steady_clock::now();
    std::vector<aph_tensor*> in;
    for (size_t i = 0; i < ex.steps.size(); ++i) {
        Step& s = ex.steps[i];
        const uint64_t start = timed ? trace::now_ns() : 0;
        const auto t0 = std::chrono::steady_clock::now();
        with_node(s, [&] {
            switch (s.kind) {
                case Kind::Input:
                    // Used in place when it is on the device, contiguous (inference assumed it)
                    // and not memory this executor writes (an output bound back as an input, as
                    // in a recurrent loop: every input step runs before any computing step, so
                    // the copy is taken before that memory is overwritten).
                    if (s.bound->device() == ex.device && tensor::is_contiguous(*s.bound) &&
                        !aliases_executor_memory(ex, s.bound)) {
                        tensor::retain(s.bound);
                        replace(s.tensor, s.bound);
                    } else {
                        if (ex.input_copies[i] == nullptr)
                            ex.input_copies[i] = tensor::create(ex.device, ex.stream, s.info.dtype, s.info.shape.data(),
                                                                s.info.shape.size());
                        tensor::copy(ex.input_copies[i], s.bound, ex.stream, false);
                        tensor::retain(ex.input_copies[i]);
                        replace(s.tensor, ex.input_copies[i]);
                    }
                    break;
                case Kind::Weight:
                    tensor::retain(s.bound);
                    replace(s.tensor, s.bound);
                    break;
                case Kind::Constant: break;
                case Kind::View: replace(s.tensor, make_view(s, ex.steps[s.operands[0]].tensor)); break;
                case Kind::Output: {
                    aph_tensor* t = ex.steps[s.operands[0]].tensor;
                    tensor::retain(t);
                    replace(s.tensor, t);
                    break;
                }
                case Kind::Compute: {
                    in.clear();
                    for (size_t op : s.operands) in.push_back(ex.steps[op].tensor);
                    if (s.custom)
                        run_custom(ex, s, in, s.tensor);
                    else
                        run_builtin(s, ex.stream, in, s.tensor);
                    break;
                }
            }
        });
        if (s.kind != Kind::Compute) continue;
        if (ex.profile) {
            synchronize(ex);
            const uint64_t ns = static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
            s.last_ns = ns;
            s.total_ns += ns;
        }
        if (ex.check_numerics) {
            uint64_t nan = 0, inf = 0;
            count_nonfinite(s.tensor, work_stream(ex), &nan, &inf);
            if (nan + inf > 0)
                throw Error::kind(APH_ERR_KERNEL,
                                  strprintf("numerics check: %s produced %llu NaN and %llu Inf among %lld values",
                                            node_label(s).c_str(), static_cast<unsigned long long>(nan),
                                            static_cast<unsigned long long>(inf), static_cast<long long>(s.tensor->numel)));
        }
        if (ex.trace != nullptr) {
            trace::Span span;
            span.name = s.name;
            span.category = "node";
            span.start_ns = start;
            span.duration_ns = static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
            span.device = dev;
            span.bytes = s.info.nbytes;
            Json args = Json::object();
            args["op"] = s.op;
            args["id"] = s.id;
            args["dtype"] = dtype::name(s.info.dtype);
            args["shape"] = s.info.shape;
            span.args_json = args.dump();
            ex.trace->record_span(span);
        }
    }
    finish_outputs(ex);
    if (ex.trace != nullptr) {
        trace::Span span;
        span.name = "run";
        span.category = "run";
        span.start_ns = run_start;
        span.duration_ns = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - run_t0).count());
        span.device = dev;
        span.bytes = ex.plan.total_bytes;
        ex.trace->record_span(span);
    }
    ++ex.runs;
    ex.ran = true;
}

}  // namespace aph::exec

// ---------------------------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------------------------

aph_executor::~aph_executor() {
    aph::exec::free_memory(*this);
    for (aph::exec::Step& s : steps)
        if (s.bound != nullptr) aph::tensor::release(s.bound);
    if (trace != nullptr) aph_trace_sink_release(trace);
    if (tracker != nullptr) aph_tracker_release(tracker);
    if (stream != nullptr) aph_stream_release(stream);
    if (device != nullptr) aph::device::release(device);
}

const aph::exec::Step* aph_executor::find(const std::string& name) const {
    for (const aph::exec::Step& s : steps)
        if (s.name == name &&
            (s.kind == aph::exec::Kind::Input || s.kind == aph::exec::Kind::Weight || s.kind == aph::exec::Kind::Output))
            return &s;
    return nullptr;
}

aph::exec::Step* aph_executor::find(const std::string& name) {
    return const_cast<aph::exec::Step*>(static_cast<const aph_executor*>(this)->find(name));
}
