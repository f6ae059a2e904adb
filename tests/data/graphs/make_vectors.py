#!/usr/bin/env python3
"""Test vectors for tests/test_graph.c and tests/test_graph_config.c, computed without libaphelion.

stable_hash vectors: SHA-256 over byte strings written out by hand from docs/compat.md's layout
(id as u64 little-endian, name bytes, serde_json compact config; then each edge's from and to).
Float text: serde_json 1.0.149 (the zmij crate) from Python's shortest repr digits: plain form for
decimal exponents -5..15 ("1.0", "0.00001", "1000000000000000.0"), else d.ddde-x / d.ddde+x.
Run: python3 make_vectors.py hashes   (prints the hashes)
     python3 make_vectors.py floats   (prints serde_floats.inc's table rows)
"""
import sys
def hashes():
    import hashlib, struct
    def le(v): return struct.pack('<Q', v)
    def h(b): return hashlib.sha256(b).hexdigest()
    def cfg(name, version, params): return b'{"name":' + name + b',"version":' + version + b',"params":' + params + b'}'
    
    print("empty", h(b""))
    # plain: encoder/decoder, edge 1->2
    plain = le(1)+b"encoder"+cfg(b'"transformer"',b'"1.0.0"',b'{}') + le(2)+b"decoder"+cfg(b'"transformer"',b'"1.0.0"',b'{"hidden_size":256}') + le(1)+le(2)
    print("plain", h(plain))
    # reversed insertion order: decoder first then encoder, edge 2->1
    rev = le(1)+b"decoder"+cfg(b'"transformer"',b'"1.0.0"',b'{"hidden_size":256}') + le(2)+b"encoder"+cfg(b'"transformer"',b'"1.0.0"',b'{}') + le(2)+le(1)
    print("reversed", h(rev))
    # plain without edge
    print("plain_noedge", h(plain[:-16]))
    # floats
    fl = b'{"a":0.1,"b":1.0,"c":1e-7,"d":1e+16,"e":1.5e+16,"f":123456.0,"g":-0.0,"h":5e-324,"i":1.7976931348623157e+308,"j":0.3}'
    print("floats", h(le(1)+b"f"+cfg(b'"floats"',b'"1.0.0"',fl)))
    # nested + arrays
    ne = b'{"arr":[1,-2,2.5,"x",true,false,null,[],{}],"nested":{"B":true,"a":{"B":null,"z":[1,2.5,"x"]},"\xc3\xa9":1}}'
    print("nested", h(le(1)+b"n"+cfg(b'"nest"',b'"0.1.0"',ne)))
    # unicode
    un = le(1)+"日本".encode()+cfg('"é"'.encode(),b'"1.0.0"','{"lang":"日本語"}'.encode())
    print("unicode", h(un))
    # escapes: name and config name = q"b\n<LF>c<0x01>t<TAB>x<0x7f>
    raw = b'q"b\\n\nc\x01t\tx\x7f\x08\x0c\r\x1f'
    esc = b'"q\\"b\\\\n\\nc\\u0001t\\tx\x7f\\b\\f\\r\\u001f"'
    print("escapes", h(le(1)+raw+cfg(esc,b'"1.0.0"',b'{"k":'+esc+b'}')))
    ex = (le(1)+b"embedding"+cfg(b'"embed"',b'"1.0.0"',b'{"dim":512,"dropout":0.1,"vocab_size":32000}')
        + le(2)+b"encoder"+cfg(b'"transformer"',b'"2.1.0"',b'{"activation":"gelu","label":null,"layers":[64,128],"lr":0.00003,"max_tokens":1e+20,"norm":{"eps":1e-12,"type":"layer"},"scale":-2.5,"tie":true,"warmup":[]}')
        + le(3)+'décodeur "main"'.encode()+cfg(b'"head"',b'"1.0.0"',b'{}')
        + le(1)+le(2)+le(2)+le(3)+le(1)+le(3))
    print("example", h(ex))
    import json
    d = json.load(open(__import__('os').path.join(__import__('os').path.dirname(__file__), 'example_pretty.json')))
    assert [n['id'] for n in d['nodes']] == [1,2,3]

def floats():
    import random, struct
    def layout(x):
        # serde_json (zmij) layout from Python's shortest repr digits
        if x == 0: return "-0.0" if struct.pack('>d',x)[0] & 0x80 else "0.0"
        s = repr(abs(x)); sign = "-" if x < 0 else ""
        if 'e' in s: mant, e = s.split('e'); e = int(e)
        else: mant, e = s, 0
        if '.' in mant: ip, fp = mant.split('.')
        else: ip, fp = mant, ''
        digits = (ip + fp).lstrip('0'); 
        # exponent of first digit
        point = len(ip) + e  # digits before point in ip+fp (with leading zeros)
        lead = len(ip+fp) - len((ip+fp).lstrip('0'))
        first_exp = point - lead - 1
        digits = digits.rstrip('0') or '0'
        n = len(digits)
        if -5 <= first_exp <= 15:
            if n - 1 <= first_exp: return sign + digits + '0'*(first_exp-(n-1)) + '.0'
            if first_exp >= 0: return sign + digits[:first_exp+1] + '.' + digits[first_exp+1:]
            return sign + '0.' + '0'*(-first_exp-1) + digits
        out = digits[0] + ('.' + digits[1:] if n > 1 else '')
        return sign + out + 'e' + ('-' if first_exp < 0 else '+') + str(abs(first_exp))
    random.seed(20240605)
    vals = [0.1, 1.0, 1e-7, 1e16, 1.5e16, 123456.0, -0.0, 0.0, 5e-324, 1.7976931348623157e308, 0.3,
            1e15, 9999999999999998.0, 1e-5, 9.999999999999999e-6, 1.5e-6, 0.000123, 2.2250738585072014e-308,
            12345678901234567.0, 123456789012345.6, 100.0, -1.25, 3e-05, 1e20, 1e21, 1e22, 0.5, 2.0**53, 2.0**63, 
            1/3, 2/3, -1e-300, 4.9406564584124654e-322, 1e100, 6.62607015e-34, 299792458.0, 1e-4, 0.001, 1e-6]
    for _ in range(150):
        bits = random.getrandbits(64)
        x = struct.unpack('<d', struct.pack('<Q', bits))[0]
        if x != x or x in (float('inf'), float('-inf')): continue
        vals.append(x)
    for _ in range(100):
        # human-scale numbers with few digits
        x = round(random.uniform(-1e6, 1e6), random.randint(0, 8)) * 10.0 ** random.randint(-12, 20)
        vals.append(x)
    for v in vals:
        b = struct.unpack('<Q', struct.pack('<d', v))[0]
        print('    {0x%016xULL, "%s"},' % (b, layout(v)))

if __name__ == "__main__":
    {"hashes": hashes, "floats": floats}[sys.argv[1] if len(sys.argv) > 1 else "hashes"]()
