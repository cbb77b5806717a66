// A WCF client (and, for the benchmark, a self-hosted server) of fakedc's
// VMM-shaped contracts, compiled with Mono's mcs:
//   mcs -r:System.ServiceModel -r:System.Runtime.Serialization wcf_vmm.cs
// usage: mono wcf_vmm.exe nettcp net.tcp://HOST:PORT   (SecurityMode.None)
//        mono wcf_vmm.exe http   http://HOST:PORT      (BasicHttpBinding)
//        mono wcf_vmm.exe serve  net.tcp://HOST:PORT   (ServiceHost, security off)
// Prints KEY VALUE lines the Rust test asserts on.
using System;
using System.Runtime.Serialization;
using System.ServiceModel;
using System.Threading;

namespace FakedcWcf
{
    static class Ns { public const string V = "http://schemas.microsoft.com/VirtualManager/2006/07"; }

    [DataContract(Namespace = Ns.V)]
    public class ServerInfo
    {
        [DataMember] public string ComputerName;
        [DataMember] public string FullyQualifiedDomainName;
        [DataMember] public string ProductName;
        [DataMember] public string ProductVersion;
    }

    [DataContract(Namespace = Ns.V)]
    public class Host
    {
        [DataMember] public string ComputerName;
        [DataMember] public string HostType;
        [DataMember] public string PowerState;
        [DataMember] public int VirtualMachineCount;
    }

    [DataContract(Namespace = Ns.V)]
    public class VirtualMachine
    {
        [DataMember] public string HostName;
        [DataMember] public string Id;
        [DataMember] public string Name;
        [DataMember] public string Status;
    }

    [DataContract(Namespace = Ns.V)]
    public class Job
    {
        [DataMember] public string Id;
        [DataMember] public string Name;
        [DataMember] public int Progress;
        [DataMember] public string Status;
    }

    [ServiceContract(Namespace = Ns.V)]
    public interface IVirtualManagerService
    {
        [OperationContract] ServerInfo GetServerInfo();
        [OperationContract] Host[] GetHosts();
        [OperationContract] VirtualMachine[] GetVirtualMachines();
        [OperationContract] Job StartVirtualMachine(string name);
        [OperationContract] Job StopVirtualMachine(string name);
        [OperationContract] Job ShutdownVirtualMachine(string name);
        [OperationContract] Job GetJob(string id);
    }

    [ServiceContract(Namespace = Ns.V)]
    public interface ITimeSync
    {
        [OperationContract] DateTime GetTime(string who);
    }

    // The benchmark's anchor: the same contract self-hosted by Mono's WCF.
    [ServiceBehavior(InstanceContextMode = InstanceContextMode.Single, ConcurrencyMode = ConcurrencyMode.Multiple)]
    public class Server : IVirtualManagerService
    {
        public ServerInfo GetServerInfo()
        {
            return new ServerInfo { ComputerName = "MONO", FullyQualifiedDomainName = "mono.test", ProductName = "Mono WCF", ProductVersion = "10.19.2445.0" };
        }
        public Host[] GetHosts() { return new Host[0]; }
        public VirtualMachine[] GetVirtualMachines() { return new VirtualMachine[0]; }
        public Job StartVirtualMachine(string name) { return new Job { Id = name, Name = "Start", Progress = 100, Status = "Completed" }; }
        public Job StopVirtualMachine(string name) { return StartVirtualMachine(name); }
        public Job ShutdownVirtualMachine(string name) { return StartVirtualMachine(name); }
        public Job GetJob(string id) { return StartVirtualMachine(id); }
    }

    static class Program
    {
        static int Main(string[] args)
        {
            string mode = args[0], baseUrl = args[1];
            if (mode == "serve")
            {
                var host = new ServiceHost(typeof(Server));
                var b = new NetTcpBinding(SecurityMode.None);
                host.AddServiceEndpoint(typeof(IVirtualManagerService), b, baseUrl + "/VirtualManager/Management");
                host.Open();
                Console.WriteLine("listening");
                Console.Out.Flush();
                Console.In.ReadLine();
                host.Close();
                return 0;
            }
            if (mode == "nettcp")
            {
                var b = new NetTcpBinding(SecurityMode.None);
                var f = new ChannelFactory<IVirtualManagerService>(b, new EndpointAddress(baseUrl + "/VirtualManager/Management"));
                var c = f.CreateChannel();
                var info = c.GetServerInfo();
                Console.WriteLine("info " + info.ComputerName + " " + info.ProductVersion);
                foreach (var h in c.GetHosts())
                    Console.WriteLine("host " + h.ComputerName + " " + h.PowerState + " " + h.VirtualMachineCount);
                foreach (var vm in c.GetVirtualMachines())
                    Console.WriteLine("vm " + vm.Name + " " + vm.Status);
                var job = c.StartVirtualMachine(args[2]);
                Console.WriteLine("job " + job.Name + "|" + job.Status);
                try
                {
                    c.StartVirtualMachine("nope");
                    Console.WriteLine("missing ok");
                }
                catch (FaultException e)
                {
                    Console.WriteLine("missing-fault " + e.Message);
                }
                ((IClientChannel)c).Close();
                return 0;
            }
            if (mode == "streamed")
            {
                // TransferMode.Streamed: the singleton-unsized framing mode.
                var b = new NetTcpBinding(SecurityMode.None) { TransferMode = TransferMode.Streamed };
                var f = new ChannelFactory<IVirtualManagerService>(b, new EndpointAddress(baseUrl + "/VirtualManager/Management"));
                var c = f.CreateChannel();
                var info = c.GetServerInfo();
                Console.WriteLine("info " + info.ComputerName + " " + info.ProductVersion);
                ((IClientChannel)c).Close();
                return 0;
            }
            if (mode == "bench")
            {
                // GetServerInfo calls/s over one session for args[2] seconds.
                var b = new NetTcpBinding(SecurityMode.None);
                var f = new ChannelFactory<IVirtualManagerService>(b, new EndpointAddress(baseUrl + "/VirtualManager/Management"));
                var c = f.CreateChannel();
                c.GetServerInfo();
                var sw = System.Diagnostics.Stopwatch.StartNew();
                long n = 0;
                double secs = double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
                while (sw.Elapsed.TotalSeconds < secs) { c.GetServerInfo(); n++; }
                Console.WriteLine("rate " + (n / sw.Elapsed.TotalSeconds).ToString("F0"));
                ((IClientChannel)c).Close();
                return 0;
            }
            if (mode == "jobstatus")
            {
                var b = new NetTcpBinding(SecurityMode.None);
                var f = new ChannelFactory<IVirtualManagerService>(b, new EndpointAddress(baseUrl + "/VirtualManager/Management"));
                var c = f.CreateChannel();
                foreach (var vm in c.GetVirtualMachines())
                    Console.WriteLine("vm " + vm.Name + " " + vm.Status);
                ((IClientChannel)c).Close();
                return 0;
            }
            if (mode == "http")
            {
                var b = new BasicHttpBinding();
                var f = new ChannelFactory<ITimeSync>(b, new EndpointAddress(baseUrl + "/VirtualManager/TimeSync"));
                var c = f.CreateChannel();
                var t = c.GetTime("winpe-agent");
                Console.WriteLine("time " + t.Kind + " " + t.ToString("yyyy-MM-dd"));
                ((IClientChannel)c).Close();
                return 0;
            }
            Console.Error.WriteLine("unknown mode " + mode);
            return 2;
        }
    }
}
