// pulumi-language-python: the Python language host the pulumi CLI starts for `runtime: python`.
//
// Pulumi's own host lives in the nested module
// github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3, which has no tags and which the Go
// module proxy here does not serve at any version. This host is ours: it speaks the same LanguageRuntime
// protocol through the published sdk/v3 packages (toolchain, rpcutil, the policy proxy) and runs
// programs with the sdk's own pulumi-language-python-exec shim, installed beside it. It implements what
// `pulumi preview/up/destroy/about/install`, policy packs and the Automation API call. Code generation
// and templates are Unimplemented (the engine reports them as unsupported); attaching a debugger and the
// `typechecker` runtime option are refused with an error that says so.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// hostVersion is this host's own version; the linker stamps it (see ops/engine/build.py).
var hostVersion = "dev"

const (
	execShim = "pulumi-language-python-exec"
	// The shim exits 32 after it has shown the user an actionable message: no second error is added.
	exitAfterUserMessage = 32
)

func main() {
	showVersion := flag.Bool("version", false, "print the host's version and exit")
	flag.String("tracing", "", "accepted for compatibility with the CLI; tracing is not emitted")
	flag.Parse()
	if *showVersion {
		fmt.Println(hostVersion)
		return
	}

	self, err := os.Executable()
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not determine this executable: %w", err))
	}
	shim := filepath.Join(filepath.Dir(self), execShim)
	if _, err := os.Stat(shim); err != nil {
		cmdutil.Exit(fmt.Errorf("missing %s beside the language host: %w", execShim, err))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	cancel := make(chan bool)
	go func() { <-ctx.Done(); stop(); close(cancel) }()

	host := &pythonHost{shim: shim}
	if flag.NArg() > 0 {
		host.engine = flag.Arg(0)
		if err := rpcutil.Healthcheck(ctx, host.engine, 5*time.Minute, stop); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start the engine health check: %w", err))
		}
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start the language host's gRPC server: %w", err))
	}
	fmt.Printf("%d\n", handle.Port) // the CLI reads the port from the first line
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host stopped serving: %w", err))
	}
}

type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	shim   string
	engine string
}

func pythonOptions(info *pulumirpc.ProgramInfo, isPlugin bool) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{Root: info.GetRootDirectory(), ProgramDir: info.GetProgramDirectory()}
	for key, value := range info.GetOptions().AsMap() {
		text, ok := value.(string)
		if !ok {
			return opts, fmt.Errorf("runtime option %q must be a string", key)
		}
		switch key {
		case "virtualenv":
			opts.Virtualenv = text
		case "toolchain":
			switch text {
			case "pip":
				opts.Toolchain = toolchain.Pip
			case "uv":
				opts.Toolchain = toolchain.Uv
			case "poetry":
				opts.Toolchain = toolchain.Poetry
			default:
				return opts, fmt.Errorf("runtime option toolchain: %q is not one of pip, uv, poetry", text)
			}
		case "typechecker":
			return opts, errors.New("runtime option typechecker is not supported by this language host")
		}
	}
	// Plugins never run in the ambient interpreter: default their virtualenv as Pulumi does.
	if isPlugin && opts.Virtualenv == "" && (opts.Toolchain == toolchain.Pip || opts.Toolchain == toolchain.Auto) {
		opts.Virtualenv = "venv"
	}
	return opts, nil
}

// pythonToolchain resolves the project's Python (virtualenv, pip/uv/poetry) from its runtime options.
func pythonToolchain(info *pulumirpc.ProgramInfo, isPlugin bool) (toolchain.Toolchain, error) {
	opts, err := pythonOptions(info, isPlugin)
	if err != nil {
		return nil, err
	}
	return toolchain.ResolveToolchain(opts)
}

func (h *pythonHost) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engine = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *pythonHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: hostVersion}, nil
}

// GetRequiredPackages reports the resource plugins of the installed Pulumi packages, from their
// pulumi-plugin.json, so the engine can load (and check) them before the program runs.
func (h *pythonHost) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	tc, err := pythonToolchain(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	installed, err := tc.ListPackages(ctx, true)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range installed {
		names = append(names, p.Name) // any distribution may ship a pulumi-plugin.json
	}
	manifests, err := pluginManifests(ctx, tc, names)
	if err != nil {
		return nil, err
	}
	var packages []*pulumirpc.PackageDependency
	for _, p := range installed {
		m, ok := manifests[p.Name]
		if !ok || !m.Resource {
			continue // no pulumi-plugin.json, or a package without a resource plugin (pulumi-policy)
		}
		// name and version are optional in pulumi-plugin.json: the distribution's stand in for them.
		name, version := m.Name, m.Version
		if name == "" {
			name = strings.TrimPrefix(strings.TrimPrefix(p.Name, "pulumi-"), "pulumi_")
		}
		if version == "" {
			version = p.Version
		}
		dependency := &pulumirpc.PackageDependency{
			Name: name, Version: "v" + strings.TrimPrefix(version, "v"), Kind: "resource", Server: m.Server,
		}
		if param := m.Parameterization; param != nil {
			dependency.Parameterization = &pulumirpc.PackageParameterization{
				Name: param.Name, Version: param.Version, Value: param.Value,
			}
		}
		packages = append(packages, dependency)
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: packages}, nil
}

// pluginManifestsScript prints {distribution: pulumi-plugin.json contents} for the named distributions
// whose top-level package ships one.
const pluginManifestsScript = `
import importlib.metadata, importlib.util, json, os, sys
found = {}
for name in sys.argv[1:]:
    try:
        dist = importlib.metadata.distribution(name)
        spec = importlib.util.find_spec(dist.metadata["Name"].replace("-", "_"))
        for location in (spec.submodule_search_locations or []) if spec else []:
            path = os.path.join(str(location), "pulumi-plugin.json")
            if os.path.isfile(path):
                with open(path) as f:
                    found[name] = json.load(f)
                break
    except Exception:
        pass
print(json.dumps(found))
`

func pluginManifests(
	ctx context.Context, tc toolchain.Toolchain, names []string,
) (map[string]plugin.PulumiPluginJSON, error) {
	manifests := map[string]plugin.PulumiPluginJSON{}
	if len(names) == 0 {
		return manifests, nil
	}
	cmd, err := tc.Command(ctx, append([]string{"-c", pluginManifestsScript}, names...)...)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("reading pulumi-plugin.json of %v: %w", names, err)
	}
	if err := json.Unmarshal(out, &manifests); err != nil {
		return nil, fmt.Errorf("parsing pulumi-plugin.json of %v: %w", names, err)
	}
	return manifests, nil
}

// Run executes the program with the exec shim in the project's virtualenv, passing configuration as
// the Python SDK reads it (PULUMI_CONFIG, PULUMI_CONFIG_SECRET_KEYS).
func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if req.GetAttachDebugger() {
		return &pulumirpc.RunResponse{Error: "this language host does not support attaching a debugger"}, nil
	}
	tc, err := pythonToolchain(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, append([]string{h.shim}, h.shimArguments(req)...)...)
	if err != nil {
		return nil, err
	}
	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// A cancelled run gets SIGINT and 5 seconds to stop before it is killed.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run the Python program: %v", err)}, nil
		}
		if exitCode(exitErr) == exitAfterUserMessage {
			return &pulumirpc.RunResponse{Bail: true}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", exitCode(exitErr))}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

func (h *pythonHost) shimArguments(req *pulumirpc.RunRequest) []string {
	var args []string
	add := func(flagName, value string) {
		if value != "" {
			args = append(args, "--"+flagName, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engine)
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("organization", req.GetOrganization())
	args = append(args, req.GetInfo().GetEntryPoint())
	return append(args, req.GetArgs()...)
}

func exitCode(err *exec.ExitError) int {
	if status, ok := err.Sys().(syscall.WaitStatus); ok {
		return status.ExitStatus()
	}
	return -1
}

// RunPlugin runs a Python plugin; for a policy pack (kind analyzer) that is `python -u -m pulumi.policy`
// in the pack's directory, behind the sdk's policy proxy, which hands the pack the stack's configuration.
func (h *pythonHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	ctx := server.Context()
	isAnalyzer := req.GetKind() == string(apitype.AnalyzerPlugin)
	tc, err := pythonToolchain(req.GetInfo(), !isAnalyzer)
	if err != nil {
		return err
	}
	args := append([]string{req.GetInfo().GetProgramDirectory()}, req.GetArgs()...)
	if isAnalyzer {
		args = append(append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...), req.GetInfo().GetProgramDirectory())
	}
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}

	var proxy *sdk.PolicyProxy
	if isAnalyzer {
		cmd.Dir = req.GetInfo().GetProgramDirectory()
		if proxy, stdout, err = sdk.NewPolicyProxy(ctx, stdout); err != nil {
			return fmt.Errorf("could not start the policy pack proxy: %w", err)
		}
		stack, err := proxy.AwaitConfiguration(ctx)
		if err != nil {
			return fmt.Errorf("could not get the stack's configuration: %w", err)
		}
		if stack != nil {
			cmd.Env = appendSet(cmd.Env, "PULUMI_ORGANIZATION", stack.GetOrganization())
			cmd.Env = appendSet(cmd.Env, "PULUMI_PROJECT", stack.GetProject())
			cmd.Env = appendSet(cmd.Env, "PULUMI_STACK", stack.GetStack())
			cmd.Env = appendSet(cmd.Env, "PULUMI_DRY_RUN", strconv.FormatBool(stack.GetDryRun()))
			if stack.GetConfig() != nil { // the pack reads PULUMI_CONFIG only when it is an object
				config, err := json.Marshal(stack.GetConfig())
				if err != nil {
					return err
				}
				cmd.Env = append(cmd.Env, "PULUMI_CONFIG="+string(config))
			}
		}
	} else {
		cmd.Dir = req.GetPwd()
	}
	cmd.Env = append(cmd.Env, req.GetEnv()...)
	cmd.Stdout, cmd.Stderr = stdout, stderr

	if err := cmd.Start(); err != nil {
		err = fmt.Errorf("could not start the Python plugin: %w", err)
		if proxy != nil {
			proxy.Abort(err) // engine calls waiting for the pack fail now instead of hanging
		}
		return err
	}
	if proxy != nil {
		return proxy.Attach(ctx, cmd) // the proxy owns the process from here on
	}
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return server.Send(&pulumirpc.RunPluginResponse{
				Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitCode(exitErr))},
			})
		}
		return err
	}
	return closer.Close()
}

// appendSet adds key=value to env unless value is empty (an empty variable would shadow the default).
func appendSet(env []string, key, value string) []string {
	if value == "" {
		return env
	}
	return append(env, key+"="+value)
}

// InstallDependencies creates the virtualenv and installs requirements.txt (`pulumi install`).
func (h *pythonHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	tc, err := pythonToolchain(req.GetInfo(), req.GetIsPlugin())
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := tc.InstallDependencies(server.Context(), req.GetInfo().GetProgramDirectory(),
		req.GetUseLanguageVersionTools(), true, stdout, stderr); err != nil {
		return err
	}
	return closer.Close()
}

// About and GetProgramDependencies serve `pulumi about`.
func (h *pythonHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := pythonToolchain(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: info.PythonExecutable, Version: info.PythonVersion.String()}, nil
}

var pep440Release = regexp.MustCompile(`^\d+(\.\d+)*`)

func (h *pythonHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := pythonToolchain(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	installed, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(installed))
	for _, p := range installed {
		if pep440Release.MatchString(p.Version) {
			deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
		}
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

func (h *pythonHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}
