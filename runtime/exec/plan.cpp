// Memory planning by liveness (header section 20).
//
// Each planned value (a Compute step's output that no output node reads) is live from the step
// that computes it to the last step that reads it, views of it included (inclusive at both
// ends, so an operation's output never shares memory with its operands). Values are placed
// largest first (ties: earlier first), each at the lowest 256-byte-aligned offset where it
// overlaps no already placed value whose lifetime overlaps its own: the greedy-by-size placement
// of TensorFlow Lite's arena planner. The arena is the highest end; the live peak (the largest
// sum of simultaneously live values, the lower bound any placement must meet) is reported
// next to it.
#include "executor.hpp"

#include <algorithm>

namespace aph::exec {

namespace {

constexpr uint64_t kAlign = 256;

uint64_t aligned(uint64_t n) {
    if (n > UINT64_MAX - kAlign) throw out_of_memory("a value of the memory plan is too large to place");
    return (n + kAlign - 1) / kAlign * kAlign;
}

// a + b, or the out-of-memory error when the plan's bytes overflow 64 bits.
uint64_t add(uint64_t a, uint64_t b) {
    if (a > UINT64_MAX - b) throw out_of_memory("the memory plan's size overflows 64 bits");
    return a + b;
}

}  // namespace

PlanInfo plan_memory(std::vector<Step>& steps) {
    PlanInfo info;
    std::vector<size_t> vals;
    for (size_t i = 0; i < steps.size(); ++i) {
        Step& s = steps[i];
        if (s.kind == Kind::Compute) ++info.steps;
        if (s.kind == Kind::Constant) info.constant_bytes = add(info.constant_bytes, aligned(s.info.nbytes));
        if (s.kind == Kind::Compute && s.own_memory) info.output_bytes = add(info.output_bytes, aligned(s.info.nbytes));
        if (!s.planned) continue;
        s.first = std::min(i, s.produced_at);  // a fused producer writes it earlier
        s.last = i;
        vals.push_back(i);
    }
    // Lifetimes: every reader of a value (directly or through views of it) extends it.
    for (size_t i = 0; i < steps.size(); ++i)
        for (size_t op : steps[i].operands) {
            Step& base = steps[steps[op].base];
            if (base.planned) base.last = std::max(base.last, i);
        }

    // Live peak: the largest sum of aligned sizes live at one step (a sweep over the steps: a
    // value joins at its first step and leaves after its last).
    std::vector<uint64_t> starts(steps.size(), 0), ends(steps.size(), 0);
    for (size_t v : vals) {
        const uint64_t size = aligned(steps[v].info.nbytes);
        starts[steps[v].first] = add(starts[steps[v].first], size);
        ends[steps[v].last] = add(ends[steps[v].last], size);
    }
    uint64_t live = 0;
    for (size_t t = 0; t < steps.size(); ++t) {
        live = add(live, starts[t]);
        info.live_peak_bytes = std::max(info.live_peak_bytes, live);
        live -= ends[t];
    }

    std::vector<size_t> order = vals;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return aligned(steps[a].info.nbytes) > aligned(steps[b].info.nbytes); });
    std::vector<size_t> placed;
    for (size_t v : order) {
        Step& s = steps[v];
        const uint64_t size = aligned(s.info.nbytes);
        info.unshared_bytes = add(info.unshared_bytes, size);
        ++info.buffers;
        if (size == 0) {
            s.offset = 0;
            continue;
        }
        // The intervals of memory taken by values alive at the same time, by offset.
        std::vector<std::pair<uint64_t, uint64_t>> taken;
        for (size_t p : placed) {
            const Step& o = steps[p];
            if (o.last < s.first || s.last < o.first) continue;
            taken.emplace_back(o.offset, o.offset + aligned(o.info.nbytes));
        }
        std::sort(taken.begin(), taken.end());
        uint64_t at = 0;
        for (const auto& [begin, end] : taken) {
            if (begin >= at + size) break;  // the gap before this one fits
            at = std::max(at, end);
        }
        s.offset = at;
        info.arena_bytes = std::max(info.arena_bytes, add(at, size));
        placed.push_back(v);
    }
    info.total_bytes = add(add(info.arena_bytes, info.output_bytes), info.constant_bytes);
    return info;
}

}  // namespace aph::exec
