// Command gohttp is a small Go HTTP server for checkpoint/restart tests:
//
//	gohttp DIR
//
// It listens on 127.0.0.1 on a port the kernel chooses and prints "port
// N". It serves the files of DIR, and on /count answers "count N", N
// counting every /count request it ever answered.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gohttp DIR")
		os.Exit(2)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "gohttp:", err)
		os.Exit(1)
	}
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(os.Args[1])))
	mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "count %d\n", n.Add(1))
	})
	fmt.Println("port", l.Addr().(*net.TCPAddr).Port)
	fmt.Fprintln(os.Stderr, "gohttp:", http.Serve(l, mux))
	os.Exit(1)
}
