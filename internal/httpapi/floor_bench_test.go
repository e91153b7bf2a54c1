package httpapi

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The cost floor of the v1 APIs' transport on this machine: what one call
// (a POST answered 202, as a scheduler's ACKNOWLEDGE or an agent's status
// update) and one stream event (a RecordIO record written and flushed, as
// an UPDATE to a scheduler or a RUN_TASK to an agent) cost in CPU, client
// and server together, with nothing done in the handler. A task run through
// the scheduler API costs at least 4 calls (2 status updates, 2
// acknowledgements) and 5 events (RUN_TASK, 2 UPDATEs, 2 acknowledgements
// to the agent); `meso simulate`'s throughput is bounded by this floor
// times the number of cores (BENCHMARKS.md, "Scale: meso simulate").
//
//	go test -run '^$' -bench 'LoopbackFloor' -benchtime 3s ./internal/httpapi

// cpuNow is the process's user+system CPU time.
func cpuNow(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkLoopbackFloor(b *testing.B) {
	// A scheduler ACKNOWLEDGE's size in protobuf, about.
	body := bytes.Repeat([]byte{'x'}, 120)

	b.Run("call", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusAccepted)
		})}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		tr := &http.Transport{MaxIdleConnsPerHost: 64}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		url := "http://" + ln.Addr().String() + "/api/v1/scheduler"
		b.SetParallelism(16)
		start := cpuNow(b)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Post(url, "application/x-protobuf", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(cpuNow(b)-start)/float64(b.N)/1e3, "cpu-µs/op")
	})

	b.Run("event", func(b *testing.B) {
		// One long-lived stream per reader; each event is written and
		// flushed on its own, as a burst of unrelated events is.
		const streams = 16
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		per := b.N/streams + 1
		record := []byte(strconv.Itoa(len(body)) + "\n" + string(body))
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/recordio")
			w.WriteHeader(http.StatusOK)
			f := w.(http.Flusher)
			for range per {
				if _, err := w.Write(record); err != nil {
					return
				}
				f.Flush()
			}
		})}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		url := "http://" + ln.Addr().String() + "/api/v1/scheduler"
		start := cpuNow(b)
		b.ResetTimer()
		errs := make(chan error, streams)
		for range streams {
			go func() {
				resp, err := client.Get(url)
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				r := bufio.NewReader(resp.Body)
				for range per {
					line, err := r.ReadSlice('\n')
					if err != nil {
						errs <- err
						return
					}
					n, _ := strconv.Atoi(string(line[:len(line)-1]))
					if _, err := r.Discard(n); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range streams {
			if err := <-errs; err != nil {
				b.Fatal(fmt.Errorf("stream: %w", err))
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(cpuNow(b)-start)/float64(streams*per)/1e3, "cpu-µs/op")
	})
}
