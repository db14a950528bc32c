package main

// The echo server build/loadgen drives (harness/run/echo_peer.py): one
// goroutine per connection, blocking reads and writes that Go's netpoller
// turns into epoll waits. With --locked each connection's goroutine holds
// its own OS thread (the go_locked model).

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime"
)

func serve(c net.Conn, locked bool) {
	lockIf(locked)
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func echoServer(args []string) int {
	locked := false
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--locked":
			locked = true
		case "--backlog": // net.Listen takes the kernel's somaxconn
			i++
		default:
			badInput("echo-server: unknown argument %q", args[i])
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "gotasks echo-server: listen: %v\n", err)
		return 1
	}
	hello, _ := json.Marshal(map[string]any{"port": ln.Addr().(*net.TCPAddr).Port,
		"version": runtime.Version() + map[bool]string{true: " locked", false: ""}[locked]})
	fmt.Println(string(hello))
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "gotasks echo-server: accept: %v\n", err)
			return 1
		}
		go serve(c, locked)
	}
}
