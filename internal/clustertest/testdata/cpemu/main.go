// Command cpemu runs a ContainerPilot 3 recipe the way ContainerPilot runs
// it, for the container tests (ContainerPilot itself is not on the Go
// module proxy): every job and health check inherits cpemu's whole
// environment plus CONTAINERPILOT_PID; each job runs in its own process
// group; `when {source, once, timeout}` starts a job on another job's
// exitSuccess/exitFailed, or gives up after the timeout; on SIGTERM every
// running job's process group gets SIGTERM, then SIGKILL after the job's
// stopTimeout (capped by the top-level stopTimeout); cpemu exits 0
// whatever its jobs did, as ContainerPilot does.
//
// For the tests it records, per started process, the names (never the
// values) of its environment in /run/cpemu/NAME.env, and logs events.
//
//	cpemu /etc/containerpilot.json5
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

type command []string

func (c *command) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*c = strings.Fields(s)
		return nil
	}
	return json.Unmarshal(b, (*[]string)(c))
}

type job struct {
	Name        string  `json:"name"`
	Exec        command `json:"exec"`
	Restarts    any     `json:"restarts"`
	StopTimeout string  `json:"stopTimeout"`
	When        *struct {
		Source  string `json:"source"`
		Once    string `json:"once"`
		Timeout string `json:"timeout"`
	} `json:"when"`
	Health *struct {
		Exec     command `json:"exec"`
		Interval int     `json:"interval"`
	} `json:"health"`
	Port int `json:"port"`
}

type config struct {
	Consul      string `json:"consul"`
	StopTimeout int    `json:"stopTimeout"`
	Jobs        []job  `json:"jobs"`
}

var (
	mu      sync.Mutex
	running = map[string]*exec.Cmd{}
	stops   = map[string]time.Duration{}
	pending int
	events  = make(chan string, 64)
)

func logf(format string, args ...any) { fmt.Printf("cpemu: "+format+"\n", args...) }

// parse reads the JSON5 subset the recipes use: whole-line // comments,
// quoted keys, trailing commas.
func parse(path string) (*config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if !strings.HasPrefix(strings.TrimSpace(sc.Text()), "//") {
			lines = append(lines, sc.Text())
		}
	}
	src := regexp.MustCompile(`,(\s*[}\]])`).ReplaceAllString(strings.Join(lines, "\n"), "$1")
	var c config
	if err := json.Unmarshal([]byte(src), &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

func recordEnv(name string) {
	var names []string
	for _, kv := range os.Environ() {
		names = append(names, strings.SplitN(kv, "=", 2)[0])
	}
	names = append(names, "CONTAINERPILOT_PID")
	sort.Strings(names)
	_ = os.MkdirAll("/run/cpemu", 0o700)
	_ = os.WriteFile("/run/cpemu/"+name+".env", []byte(strings.Join(names, "\n")+"\n"), 0o600)
}

func start(j job) {
	cmd := exec.Command(j.Exec[0], j.Exec[1:]...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("CONTAINERPILOT_PID=%d", os.Getpid()))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	recordEnv(j.Name)
	if err := cmd.Start(); err != nil {
		logf("job %s: %v", j.Name, err)
		events <- j.Name + ".exitFailed"
		return
	}
	logf("job %s started (pid %d)", j.Name, cmd.Process.Pid)
	mu.Lock()
	running[j.Name] = cmd
	d, _ := time.ParseDuration(j.StopTimeout)
	stops[j.Name] = d
	mu.Unlock()
	if j.Health != nil && len(j.Health.Exec) > 0 {
		go health(j)
	}
	go func() {
		err := cmd.Wait()
		mu.Lock()
		delete(running, j.Name)
		mu.Unlock()
		code := cmd.ProcessState.ExitCode()
		logf("job %s exited %d (%v)", j.Name, code, err)
		if code == 0 {
			events <- j.Name + ".exitSuccess"
		} else {
			events <- j.Name + ".exitFailed"
		}
	}()
}

func health(j job) {
	interval := time.Duration(j.Health.Interval) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second
	}
	for {
		time.Sleep(interval)
		mu.Lock()
		_, alive := running[j.Name]
		mu.Unlock()
		if !alive {
			return
		}
		cmd := exec.Command(j.Health.Exec[0], j.Health.Exec[1:]...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("CONTAINERPILOT_PID=%d", os.Getpid()))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		recordEnv(j.Name + ".health")
		err := cmd.Run()
		logf("health %s: %v", j.Name, err)
	}
}

func shutdown(global time.Duration) {
	mu.Lock()
	var wg sync.WaitGroup
	for name, cmd := range running {
		pgid := cmd.Process.Pid
		d := stops[name]
		if global > 0 && d > global {
			d = global
		}
		logf("stopping %s: SIGTERM to process group %d", name, pgid)
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(d)
			for time.Now().Before(deadline) {
				if syscall.Kill(-pgid, 0) != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			if syscall.Kill(-pgid, 0) == nil {
				logf("stopping %s: SIGKILL to process group %d after %s", name, pgid, d)
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			}
		}()
	}
	mu.Unlock()
	wg.Wait()
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: cpemu CONFIG")
		os.Exit(2)
	}
	c, err := parse(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpemu:", err)
		os.Exit(1)
	}
	if c.Consul == "" {
		for _, j := range c.Jobs {
			if j.Port != 0 {
				logf("job %s has a port but no consul is configured: ContainerPilot would fail to register it", j.Name)
			}
		}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	// PID 1 duties: reap what the jobs leave behind.
	waiting := map[string][]job{}
	timeouts := make(chan string, len(c.Jobs))
	for _, j := range c.Jobs {
		if j.When == nil {
			start(j)
			pending++
			continue
		}
		key := j.When.Source + "." + j.When.Once
		waiting[key] = append(waiting[key], j)
		pending++
		if d, err := time.ParseDuration(j.When.Timeout); err == nil && d > 0 {
			name := j.Name
			time.AfterFunc(d, func() { timeouts <- name })
		}
	}
	done := map[string]bool{}
	finish := func(name string) {
		if !done[name] {
			done[name] = true
			pending--
		}
	}
	for pending > 0 {
		select {
		case ev := <-events:
			logf("event %s", ev)
			name := ev[:strings.LastIndex(ev, ".")]
			finish(name)
			for _, j := range waiting[ev] {
				if !done[j.Name] {
					start(j)
				}
			}
			delete(waiting, ev)
			// A job waiting for an event that can no longer come (its
			// source ended the other way) waits on, as in ContainerPilot,
			// until its when.timeout, if it has one.
		case name := <-timeouts:
			mu.Lock()
			_, run := running[name]
			mu.Unlock()
			if !run && !done[name] {
				logf("job %s: when timed out", name)
				finish(name)
				for key, js := range waiting {
					var keep []job
					for _, j := range js {
						if j.Name != name {
							keep = append(keep, j)
						}
					}
					waiting[key] = keep
				}
			}
		case s := <-sigs:
			logf("got %v: stopping every job", s)
			shutdown(time.Duration(c.StopTimeout) * time.Second)
			logf("exiting 0")
			os.Exit(0)
		}
	}
	logf("every job is done; exiting 0")
}
