(module
  (memory (export "memory") 2)
  ;; XOR bytes [0, len) of memory with the 32-bit little-endian key word (already rotated to phase 0).
  (func (export "mask") (param $len i32) (param $key i32)
    (local $i i32) (local $k v128) (local $end16 i32)
    (local.set $k (i32x4.splat (local.get $key)))
    (local.set $end16 (i32.and (local.get $len) (i32.const -64)))
    (block $done64
      (loop $l64
        (br_if $done64 (i32.ge_u (local.get $i) (local.get $end16)))
        (v128.store offset=0 (local.get $i) (v128.xor (v128.load offset=0 (local.get $i)) (local.get $k)))
        (v128.store offset=16 (local.get $i) (v128.xor (v128.load offset=16 (local.get $i)) (local.get $k)))
        (v128.store offset=32 (local.get $i) (v128.xor (v128.load offset=32 (local.get $i)) (local.get $k)))
        (v128.store offset=48 (local.get $i) (v128.xor (v128.load offset=48 (local.get $i)) (local.get $k)))
        (local.set $i (i32.add (local.get $i) (i32.const 64)))
        (br $l64)))
    (block $done4
      (loop $l4
        (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $len)))
        (i32.store (local.get $i) (i32.xor (i32.load (local.get $i)) (local.get $key)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $l4)))
    (block $done1
      (loop $l1
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $len)))
        (i32.store8 (local.get $i)
          (i32.xor (i32.load8_u (local.get $i))
                   (i32.shr_u (local.get $key) (i32.shl (i32.and (local.get $i) (i32.const 3)) (i32.const 3)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l1)))))
