;; A WASI preview 1 command in WebAssembly text: reads the event file named by argv[1] (inside
;; the preopened directory, descriptor 3) and prints {"hello":"wasm","input":<event>}.
;;   nova register hello-wasm -r wasm -c examples/wasm/hello.wat
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  ;; 0: argc, 4: argv buffer size, 16: argv pointers, 64: argv strings, 512: output iovec,
  ;; 1024: input iovec, 1040: bytes read, 1044: opened fd, 1060: bytes written, 2048: text,
  ;; 4096: file contents.
  (data (i32.const 2048) "{\"hello\":\"wasm\",\"input\":")
  (data (i32.const 2100) "}\n")

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  ;; Writes all of [ptr, ptr+len) to stdout: WASI may write less than asked, so loop.
  (func $write (param $ptr i32) (param $len i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store (i32.const 512) (local.get $ptr))
        (i32.store (i32.const 516) (local.get $len))
        (call $fail (call $fd_write (i32.const 1) (i32.const 512) (i32.const 1) (i32.const 1060)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.load (i32.const 1060))))
        (local.set $len (i32.sub (local.get $len) (i32.load (i32.const 1060))))
        (br $more))))

  (func $fail (param $errno i32)
    (if (local.get $errno) (then (call $proc_exit (i32.const 2)))))

  (func (export "_start")
    (local $path i32)
    (call $fail (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (if (i32.lt_u (i32.load (i32.const 0)) (i32.const 2)) (then (call $proc_exit (i32.const 1))))
    (call $fail (call $args_get (i32.const 16) (i32.const 64)))
    (local.set $path (i32.load (i32.const 20)))
    ;; path_open(dirfd 3, no flags, path, len, no oflags, rights: fd_read, none, none, &fd)
    (call $fail (call $path_open (i32.const 3) (i32.const 0) (local.get $path)
      (call $strlen (local.get $path)) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
      (i32.const 1044)))
    (i32.store (i32.const 1024) (i32.const 4096))
    (i32.store (i32.const 1028) (i32.const 65536))
    (call $fail (call $fd_read (i32.load (i32.const 1044)) (i32.const 1024) (i32.const 1)
      (i32.const 1040)))
    ;; stdout: prefix, the event, suffix.
    (call $write (i32.const 2048) (i32.const 24))
    (call $write (i32.const 4096) (i32.load (i32.const 1040)))
    (call $write (i32.const 2100) (i32.const 2))))
